//! A minimal well-formedness check for the page's event XML example.
//!
//! The example is a flat `<xml>` element with text and CDATA children; this checks that
//! tags balance, CDATA sections close, and there is exactly one root element. It is not a
//! general XML parser (no DTDs, no entities beyond the five predefined ones are needed).

/// Checks that `text` is one balanced element tree; returns the root element's name.
pub fn check_well_formed(text: &str) -> Result<String, String> {
    let mut stack: Vec<&str> = Vec::new();
    let mut root: Option<&str> = None;
    let mut rest = text;
    loop {
        let Some(lt) = rest.find('<') else {
            if !rest.trim().is_empty() && stack.is_empty() {
                return Err("text after the root element".into());
            }
            break;
        };
        if stack.is_empty() && !rest[..lt].trim().is_empty() {
            return Err("text outside the root element".into());
        }
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<![CDATA[") {
            if stack.is_empty() {
                return Err("CDATA outside the root element".into());
            }
            let end = after.find("]]>").ok_or("unterminated CDATA section")?;
            rest = &after[end + 3..];
        } else if let Some(after) = rest.strip_prefix("<!--") {
            let end = after.find("-->").ok_or("unterminated comment")?;
            rest = &after[end + 3..];
        } else if let Some(after) = rest.strip_prefix("<?") {
            let end = after
                .find("?>")
                .ok_or("unterminated processing instruction")?;
            rest = &after[end + 2..];
        } else {
            let gt = rest.find('>').ok_or("unterminated tag")?;
            let tag = &rest[1..gt];
            rest = &rest[gt + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                let name = name.trim_end();
                match stack.pop() {
                    Some(open) if open == name => {}
                    Some(open) => return Err(format!("</{name}> closes <{open}>")),
                    None => return Err(format!("</{name}> without an open element")),
                }
            } else {
                let self_closing = tag.ends_with('/');
                let name = tag
                    .trim_end_matches('/')
                    .split(|c: char| c.is_whitespace())
                    .next()
                    .unwrap_or("");
                if name.is_empty() {
                    return Err("empty tag name".into());
                }
                if stack.is_empty() {
                    if root.is_some() {
                        return Err("more than one root element".into());
                    }
                    root = Some(name);
                }
                if !self_closing {
                    stack.push(name);
                }
            }
        }
    }
    if let Some(open) = stack.pop() {
        return Err(format!("<{open}> is never closed"));
    }
    root.map(str::to_owned)
        .ok_or_else(|| "no root element".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_event_shape() {
        let xml = "<xml> <ToUserName><![CDATA[toUser]]></ToUserName> \n<CreateTime>1</CreateTime>\n</xml>\n";
        assert_eq!(check_well_formed(xml), Ok("xml".to_owned()));
    }

    #[test]
    fn rejects_broken_documents() {
        for bad in [
            "<xml><a></xml>",
            "<xml><a><![CDATA[x</a></xml>",
            "<xml></xml><xml></xml>",
            "text<xml></xml>",
            "<xml>",
            "",
        ] {
            assert!(check_well_formed(bad).is_err(), "{bad:?}");
        }
    }
}
