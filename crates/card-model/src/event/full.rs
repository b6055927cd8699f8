//! The full reader: quick-xml's borrowing reader, for every shape and every error.

use std::borrow::Cow;

use quick_xml::Reader;
use quick_xml::errors::IllFormedError;
use quick_xml::events::Event as XmlEvent;

use super::document::*;
use super::*;

impl<'a> Document<'a> {
    pub(super) fn read(input: &'a str) -> Result<Self, EventError> {
        let mut reader = Reader::from_str(input);
        // Well-formedness checks stay on (end names are the reader's default).
        reader.config_mut().check_comments = true;

        let mut doc = Document::new();
        let mut frames: [Frame<'a>; MAX_EVENT_DEPTH] = Default::default();
        // Number of open elements below <xml>.
        let mut depth = 0usize;
        let mut stage = Stage::Prolog;

        loop {
            let offset = reader.buffer_position();
            let event = reader.read_event().map_err(|e| match e {
                quick_xml::Error::IllFormed(IllFormedError::MismatchedEndTag {
                    expected,
                    found,
                }) => EventError::MismatchedEndTag {
                    expected: echo(&expected),
                    found: echo(&found),
                },
                e => EventError::Malformed {
                    offset: reader.error_position(),
                    message: e.to_string(),
                },
            })?;
            let empty = matches!(event, XmlEvent::Empty(_));
            match event {
                XmlEvent::Start(start) | XmlEvent::Empty(start) => {
                    let name = start.name();
                    let name = name.as_ref().as_bytes();
                    match stage {
                        Stage::Prolog => {
                            if name != b"xml" {
                                return Err(EventError::UnexpectedRoot {
                                    found: echo_bytes(name),
                                });
                            }
                            stage = if empty { Stage::Epilog } else { Stage::Root };
                        }
                        Stage::Epilog => return Err(EventError::UnexpectedContent { offset }),
                        Stage::Root => {
                            if depth == MAX_EVENT_DEPTH {
                                return Err(EventError::TooDeep {
                                    max: MAX_EVENT_DEPTH,
                                });
                            }
                            let slot = if depth == 0 { known_slot(name) } else { None };
                            if depth > 0 {
                                let parent = &mut frames[depth - 1];
                                if let Some(s) = parent.slot {
                                    return Err(EventError::NestedField {
                                        field: KNOWN_NAMES[s],
                                    });
                                }
                                parent.has_children = true;
                            }
                            let name = reborrow(input, name)?;
                            if let Some(s) = slot {
                                if !doc.first_sight(s) {
                                    return Err(EventError::DuplicateField {
                                        field: KNOWN_NAMES[s],
                                    });
                                }
                            } else if !is_xml_name(name) {
                                return Err(EventError::InvalidName { name: echo(name) });
                            }
                            let frame = &mut frames[depth];
                            frame.name = name;
                            frame.slot = slot;
                            frame.started = false;
                            frame.has_children = false;
                            // `text` and `pending` were left empty when the last
                            // element at this depth closed.
                            depth += 1;
                            if empty {
                                depth -= 1;
                                doc.close(&mut frames, depth);
                            }
                        }
                    }
                }
                XmlEvent::End(end) => {
                    let found = end.name();
                    let found = found.as_ref().as_bytes();
                    if stage != Stage::Root {
                        return Err(EventError::Malformed {
                            offset,
                            message: format!("unmatched closing tag </{}>", echo_bytes(found)),
                        });
                    }
                    if depth == 0 {
                        if found != b"xml" {
                            return Err(EventError::MismatchedEndTag {
                                expected: "xml".to_owned(),
                                found: echo_bytes(found),
                            });
                        }
                        stage = Stage::Epilog;
                    } else {
                        let expected = frames[depth - 1].name;
                        if found != expected.as_bytes() {
                            return Err(EventError::MismatchedEndTag {
                                expected: echo(expected),
                                found: echo_bytes(found),
                            });
                        }
                        depth -= 1;
                        doc.close(&mut frames, depth);
                    }
                }
                XmlEvent::Text(text) => {
                    if stage != Stage::Root || depth == 0 {
                        if is_whitespace_only(text.as_bytes()) {
                            continue;
                        }
                        return Err(EventError::UnexpectedContent { offset });
                    }
                    let text = reborrow(input, text.as_bytes())?;
                    frames[depth - 1].on_text(text);
                }
                XmlEvent::CData(cdata) => {
                    if stage != Stage::Root || depth == 0 {
                        return Err(EventError::UnexpectedContent { offset });
                    }
                    let text = reborrow(input, cdata.as_bytes())?;
                    frames[depth - 1].on_content(Cow::Borrowed(text));
                }
                XmlEvent::GeneralRef(reference) => {
                    if stage != Stage::Root || depth == 0 {
                        return Err(EventError::UnexpectedContent { offset });
                    }
                    let resolved: Cow<'a, str> = if reference.is_char_ref() {
                        match reference.resolve_char_ref() {
                            Ok(Some(c)) => Cow::Owned(c.to_string()),
                            _ => {
                                return Err(EventError::InvalidCharRef {
                                    reference: echo_bytes(reference.as_bytes()),
                                });
                            }
                        }
                    } else {
                        Cow::Borrowed(match reference.as_bytes() {
                            b"lt" => "<",
                            b"gt" => ">",
                            b"amp" => "&",
                            b"apos" => "'",
                            b"quot" => "\"",
                            other => {
                                return Err(EventError::UnknownEntity {
                                    name: echo_bytes(other),
                                });
                            }
                        })
                    };
                    frames[depth - 1].on_content(resolved);
                }
                XmlEvent::Decl(decl) => {
                    if stage != Stage::Prolog {
                        return Err(EventError::Malformed {
                            offset,
                            message: "XML declaration after the start".to_owned(),
                        });
                    }
                    match decl.encoding() {
                        Some(Ok(enc))
                            if !enc.eq_ignore_ascii_case("utf-8")
                                && !enc.eq_ignore_ascii_case("utf8") =>
                        {
                            return Err(EventError::UnsupportedEncoding {
                                encoding: echo(&enc),
                            });
                        }
                        Some(Err(e)) => {
                            return Err(EventError::Malformed {
                                offset,
                                message: e.to_string(),
                            });
                        }
                        Some(Ok(_)) | None => {}
                    }
                }
                XmlEvent::DocType(_) => return Err(EventError::Doctype),
                XmlEvent::Comment(_) | XmlEvent::PI(_) => {}
                XmlEvent::Eof => {
                    if stage != Stage::Epilog {
                        return Err(EventError::UnexpectedEof);
                    }
                    return Ok(doc);
                }
            }
        }
    }

    /// The element `frames[depth]` has ended: store its value.
    pub(super) fn close(&mut self, frames: &mut [Frame<'a>; MAX_EVENT_DEPTH], depth: usize) {
        let frame = &mut frames[depth];
        // Leave the frame's text empty for the next element at this depth.
        let text = std::mem::take(&mut frame.text);
        frame.pending = Text::Empty;
        if frame.has_children && text.as_str().is_empty() {
            return;
        }
        if depth == 0 {
            let (name, slot) = (frame.name, frame.slot);
            self.store(name, slot, text);
            return;
        }
        let mut key = String::new();
        for parent in &frames[..depth] {
            key.push_str(parent.name);
            key.push('/');
        }
        key.push_str(frames[depth].name);
        self.extra.push((Cow::Owned(key), text.into_cow()));
    }
}
