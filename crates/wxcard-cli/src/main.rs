//! `wxcard`: the command line for WeChat card distribution.
//!
//! See `wxcard --help`; the design is in docs/architecture.md ("The wxcard command
//! line").
#![deny(missing_docs)]

mod cli;
mod commands;
mod demo;
mod deposit;
mod error;
mod input;
mod journal;
mod output;
mod progress;
mod push;
mod serve;
mod target;

use clap::Parser;
use cli::{Cli, Command, LandingCommand, SandboxCommand, WhitelistCommand};
use error::{CliError, exit};
use output::Output;
use target::{APPID_ENV, Target, build_client, redis_config};

fn main() {
    let cli = Cli::parse();
    let verbose = cli.global.verbose;
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wxcard: error: {e}");
            if verbose {
                for line in e.detail() {
                    eprintln!("  {line}");
                }
            }
            e.exit_code()
        }
    };
    std::process::exit(code);
}

/// The target of a command that calls the API.
fn target(cli: &Cli) -> Result<Target, CliError> {
    let g = &cli.global;
    if g.sandbox {
        return Ok(Target::in_process());
    }
    let appid = g.appid.clone().or_else(|| std::env::var(APPID_ENV).ok());
    Target::http(&g.base_url, appid.as_deref(), g.secret_file.as_deref())
}

fn run(cli: Cli) -> Result<i32, CliError> {
    let out = Output {
        json: cli.global.json,
        quiet: cli.global.quiet,
    };
    // Commands that need no API target.
    match &cli.command {
        Command::Sandbox(SandboxCommand::Serve(args)) => return serve::serve(args),
        Command::Demo(args) => return demo::demo(args, &out),
        Command::Push(command) => {
            let appid = cli
                .global
                .appid
                .clone()
                .or_else(|| std::env::var(APPID_ENV).ok());
            return push::run(command, appid.as_deref(), out.json);
        }
        _ => {}
    }
    // Validate local input before any credential or network is needed.
    let landing = match &cli.command {
        Command::Landing(LandingCommand::Create(args)) => Some(commands::landing_request(args)?),
        _ => None,
    };
    let qrcode = match &cli.command {
        Command::Qrcode(args) => Some(commands::qrcode_request(args)?),
        _ => None,
    };
    let target = target(&cli)?;
    if cli.global.verbose {
        eprintln!("wxcard: calling {}", target.describe());
    }
    // With --sandbox, the cards the command names exist (in deposit mode).
    let mut cards: Vec<&str> = match &cli.command {
        Command::Deposit(a) => vec![&a.card_id],
        Command::Count(a) => vec![&a.card_id],
        Command::Check(a) => vec![&a.card_id],
        Command::Html(a) => vec![&a.card_id],
        Command::Preview(a) => vec![&a.card_id],
        Command::Qrcode(a) => a.card_ids.iter().map(String::as_str).collect(),
        _ => Vec::new(),
    };
    if let Some(page) = &landing {
        cards.extend(page.card_list.iter().map(|c| c.card_id.as_str()));
    }
    // A bad id is left for the command's own validation to report.
    cards.retain(|id| !id.trim().is_empty() && !id.contains(char::is_whitespace));
    target.prepare_cards(cards)?;
    let redis = redis_config(
        cli.global.redis_url.as_deref(),
        cli.global.redis_url_file.as_deref(),
    )?;
    if cli.global.verbose && redis.is_some() {
        eprintln!("wxcard: sharing the access token through Redis");
    }
    let client = build_client(&target, redis.as_ref())?;

    match &cli.command {
        Command::Deposit(args) => {
            let file = input::CodeFile::open(&args.file)?;
            let journal = if args.no_journal || target.is_in_process() {
                None
            } else if let Some(path) = &args.journal {
                Some(path.clone())
            } else if file.is_stdin() {
                None
            } else {
                let mut name = args.file.clone().into_os_string();
                name.push(".wxcard-journal");
                Some(name.into())
            };
            let job = deposit::Job {
                card_id: &args.card_id,
                file: &file,
                lines: input::LineOptions {
                    header: args.header,
                    skip_blank: args.skip_blank,
                },
                journal,
                concurrency: args.concurrency,
            };
            let report = deposit::run(&client, &target, &job, "deposit", out.quiet)?;
            if let Some(path) = &args.report {
                commands::write_json(path, &report)?;
            }
            out.print(&report, || deposit::render(&report));
            Ok(if report.complete {
                exit::OK
            } else {
                exit::INCOMPLETE
            })
        }
        Command::Count(args) => commands::count(&client, args, &out),
        Command::Check(args) => commands::check(&client, args, &out),
        Command::Qrcode(_) => {
            let request = qrcode.ok_or_else(|| CliError::Local("no QR request".to_owned()))?;
            let ticket = client
                .create_qr_code(&request)
                .map_err(|e| CliError::api("qrcode/create", e))?;
            out.print(&commands::qrcode_json(&ticket), || {
                commands::render_qrcode(&ticket)
            });
            Ok(exit::OK)
        }
        Command::Landing(LandingCommand::Create(_)) => {
            let request = landing.ok_or_else(|| CliError::Local("no landing page".to_owned()))?;
            commands::landing_create(&client, &request, &out)
        }
        Command::Html(args) => commands::html(&client, &args.card_id, &out),
        Command::Whitelist(WhitelistCommand::Set(args)) => {
            commands::whitelist_set(&client, args, &out)
        }
        Command::Preview(args) => commands::preview(&client, args, &out),
        Command::Sandbox(_) | Command::Demo(_) | Command::Push(_) => Ok(exit::OK),
    }
}
