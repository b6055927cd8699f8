//! A compact set of codes. A million 12-character codes in a `HashSet<String>` take about
//! 85 MB (a 24-byte `String` per slot plus a heap block per code); here they take about
//! 30 MB: the bytes of all codes in one buffer, one `u32` end offset per code, and an
//! open-addressing table of `u32` indexes kept at most half full.

use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};

/// Codes of one card, deduplicated.
#[derive(Debug, Default, Clone)]
pub(crate) struct CodeSet {
    bytes: Vec<u8>,
    ends: Vec<u32>,
    /// 0 = empty; otherwise index into `ends` plus one.
    slots: Vec<u32>,
}

/// Why a code could not be stored (the set itself is full: 4 GiB of code bytes or
/// 4 billion codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Full;

fn hash(code: &[u8]) -> u64 {
    BuildHasherDefault::<DefaultHasher>::default().hash_one(code)
}

impl CodeSet {
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.bytes[start..self.ends[i] as usize]
    }

    /// The slot where `code` is, or the empty slot where it would go.
    fn find(&self, code: &[u8]) -> (usize, bool) {
        let mask = self.slots.len() - 1;
        let mut at = (hash(code) as usize) & mask;
        loop {
            match self.slots[at] {
                0 => return (at, false),
                s if self.get(s as usize - 1) == code => return (at, true),
                _ => at = (at + 1) & mask,
            }
        }
    }

    pub(crate) fn contains(&self, code: &str) -> bool {
        !self.slots.is_empty() && self.find(code.as_bytes()).1
    }

    /// Adds `code`; `Ok(false)` if it was already there.
    pub(crate) fn insert(&mut self, code: &str) -> Result<bool, Full> {
        let code = code.as_bytes();
        if (self.len() + 1) * 2 > self.slots.len() {
            self.grow()?;
        }
        let (at, found) = self.find(code);
        if found {
            return Ok(false);
        }
        let end = u32::try_from(self.bytes.len() + code.len()).map_err(|_| Full)?;
        let index = u32::try_from(self.ends.len() + 1).map_err(|_| Full)?;
        self.bytes.extend_from_slice(code);
        self.ends.push(end);
        self.slots[at] = index;
        Ok(true)
    }

    fn grow(&mut self) -> Result<(), Full> {
        let new_len = (self.slots.len() * 2).max(16);
        if new_len > (u32::MAX as usize) {
            return Err(Full);
        }
        self.slots = vec![0; new_len];
        let mask = new_len - 1;
        for i in 0..self.ends.len() {
            let mut at = (hash(self.get(i)) as usize) & mask;
            while self.slots[at] != 0 {
                at = (at + 1) & mask;
            }
            self.slots[at] = (i + 1) as u32;
        }
        Ok(())
    }

    /// The codes in insertion order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).map(|i| std::str::from_utf8(self.get(i)).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn behaves_like_a_hash_set() {
        let mut set = CodeSet::default();
        let mut model = HashSet::new();
        assert!(!set.contains("x"));
        for i in 0..20_000u32 {
            let code = format!("{}", (i * 7919) % 15_000);
            assert_eq!(set.insert(&code), Ok(model.insert(code.clone())), "{code}");
        }
        assert_eq!(set.len(), model.len());
        for i in 0..16_000u32 {
            let code = i.to_string();
            assert_eq!(set.contains(&code), model.contains(&code), "{code}");
        }
        let back: HashSet<String> = set.iter().map(str::to_owned).collect();
        assert_eq!(back, model);
    }

    #[test]
    fn distinguishes_prefixes_and_unicode() {
        let mut set = CodeSet::default();
        for c in ["1", "11", "111", "码", "码码", " 1"] {
            assert_eq!(set.insert(c), Ok(true));
        }
        assert_eq!(set.insert("11"), Ok(false));
        assert!(set.contains("码码") && !set.contains("1111") && !set.contains("1 "));
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            ["1", "11", "111", "码", "码码", " 1"]
        );
    }
}
