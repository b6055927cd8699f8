//! The Lua scripts that make compare-and-set and the lease atomic in Redis.

use redis::Script;
use std::sync::LazyLock;

/// Compare-and-set of a credential hash. `KEYS[1]`: the entry; `ARGV`: whether a value
/// is expected (`1`/`0`), the expected value, the new value, its `use_until_ms`, its
/// time-to-live in milliseconds. Answers 1 when it wrote.
pub(crate) static COMPARE_AND_SET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local current = redis.call('HGET', KEYS[1], 'value')
if ARGV[1] == '1' then
  if current ~= ARGV[2] then return 0 end
elseif current then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'value', ARGV[3], 'use_until_ms', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
",
    )
});

/// Takes a lease: `SET NX PX`, or renews it when the holder already has it.
/// `KEYS[1]`: the lease; `ARGV`: the holder, the time-to-live in milliseconds.
/// Answers 1 when the holder has the lease.
pub(crate) static TRY_LEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
",
    )
});

/// Compare-and-delete: gives a lease back only if the holder still has it.
/// `KEYS[1]`: the lease; `ARGV[1]`: the holder. Answers 1 when it deleted.
pub(crate) static RELEASE_LEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
",
    )
});

/// The fields of a credential hash, in the order `HMGET` asks for them.
pub(crate) const FIELDS: [&str; 2] = ["value", "use_until_ms"];

/// A credential from `HMGET key value use_until_ms`: none without a value; an unreadable
/// expiry reads as expired (so that the client replaces the entry).
pub(crate) fn entry(fields: (Option<String>, Option<String>)) -> Option<card_api::StoredSecret> {
    let (value, until) = fields;
    let until = until.and_then(|u| u.parse::<u64>().ok()).unwrap_or(0);
    value.map(|v| card_api::StoredSecret::new(v, until))
}
