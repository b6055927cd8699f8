//! Imports 1,000 custom codes into a deposit-mode card with the async client, with
//! progress and a final report, against the in-process sandbox (no credentials, no
//! network):
//!
//! ```text
//! cargo run -p wxcard --features async,sandbox --example bulk_import
//! ```
//!
//! `deposit_all` checks which codes are already stored, deposits the rest in chunks of
//! 100 (a few chunks in flight), verifies each chunk, and reports what it did. Run it
//! again on the same card and nothing is sent twice: an interrupted import resumes.

use wxcard::bulk::{DepositOptions, Progress};
use wxcard::sandbox::{CardSpec, Sandbox};
use wxcard::{AsyncClient, GetDepositCount};

const CODES: usize = 1_000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sandbox = Sandbox::new();
    let card_id = sandbox.create_card(CardSpec::deposit_mode())?;

    let client = AsyncClient::builder()
        .app_credentials(Sandbox::DEFAULT_APPID, sandbox.secret())
        .transport(sandbox.clone())
        .build()?;

    // Any iterator of codes (or a stream, with `deposit_all_stream`): nothing holds
    // all of them in memory at once.
    let codes = (0..CODES).map(|i| format!("SPRING{i:06}"));
    let show = |p: Progress| {
        let total = p.total.map_or_else(|| "?".to_owned(), |t| t.to_string());
        eprintln!(
            "  progress: {} of {total} codes, {} chunks done",
            p.codes_done, p.chunks_done
        );
    };
    let report = client
        .deposit_all(&card_id, codes, &DepositOptions::new().concurrency(4), show)
        .await?;

    println!("import into {card_id}:");
    println!("  read               {}", report.codes_read);
    println!("  deposited          {}", report.deposited);
    println!("  already present    {}", report.already_present);
    println!("  repeated in input  {}", report.duplicates);
    println!("  failed             {}", report.failed.len());
    println!("  missing            {}", report.verified_missing.len());
    println!(
        "  deposit calls      {} in {} chunks",
        report.deposit_calls, report.chunks
    );
    for failed in &report.failed {
        println!("  failed code {:?}: {:?}", failed.code, failed.reason);
    }

    // The card's own count, as WeChat reports it.
    let count = client
        .get_deposit_count(&GetDepositCount::new(&card_id))
        .await?
        .count;
    println!("  getdepositcount    {count}");
    if !report.is_complete() || count != CODES as u64 {
        return Err("the import is incomplete".into());
    }
    Ok(())
}
