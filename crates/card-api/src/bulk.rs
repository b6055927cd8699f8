//! Bulk workflows built on the clients' single calls: `deposit_all` (custom-code
//! import in batches of 100, with count and checkcode verification, spec §8) lands here.
