//! `wxcard sandbox serve`: the card sandbox as a loopback HTTP server.
//!
//! The flags and the server loop are card-sandbox's (`wxcard::sandbox::ServeArgs`, the
//! `card-sandbox` binary's too); this maps its errors to the CLI's exit codes.

use crate::error::{CliError, exit};
use wxcard::sandbox::{ServeArgs, ServeError};

/// Serves until SIGTERM or Ctrl-C, then stops cleanly.
pub fn serve(args: &ServeArgs) -> Result<i32, CliError> {
    args.run().map_err(cli_error)?;
    Ok(exit::OK)
}

/// A usage error is exit code 2, a card that cannot be created 3, a local failure
/// (the secret file, the port, the port file) 6.
fn cli_error(e: ServeError) -> CliError {
    match e {
        ServeError::Io { context, source } => CliError::Io { context, source },
        e @ ServeError::Card { .. } => CliError::Input(e.to_string()),
        e => CliError::Usage(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command, SandboxCommand};
    use clap::Parser as _;

    const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

    fn args(extra: &[&str]) -> ServeArgs {
        let cli = Cli::try_parse_from(["wxcard", "sandbox", "serve"].iter().chain(extra))
            .expect("the flags parse");
        match cli.command {
            Command::Sandbox(SandboxCommand::Serve(args)) => args,
            _ => unreachable!("sandbox serve"),
        }
    }

    #[test]
    fn push_flags_make_a_plain_or_safe_target_and_never_show_their_secrets() {
        let none = args(&[]);
        assert!(none.push_target().unwrap().is_none());

        let plain = args(&[
            "--push-url",
            "http://127.0.0.1:9/wx",
            "--push-token",
            "tok-123",
        ]);
        let target = plain.push_target().unwrap().unwrap();
        assert_eq!(target.url(), "http://127.0.0.1:9/wx");
        assert!(target.config().app_id().is_none());

        let safe = args(&[
            "--appid",
            "wxAPP",
            "--push-url",
            "http://127.0.0.1:9/wx",
            "--push-token",
            "tok-123",
            "--push-aes-key",
            KEY,
        ]);
        let target = safe.push_target().unwrap().unwrap();
        assert_eq!(target.config().app_id(), Some("wxAPP"));
        let shown = format!("{safe:?}");
        assert!(
            !shown.contains("tok-123") && !shown.contains(KEY),
            "{shown}"
        );

        let no_token = args(&["--push-url", "http://127.0.0.1:9/wx"]);
        let e = no_token.push_target().unwrap_err().to_string();
        assert!(e.contains("--push-token"), "{e}");

        let bad_key = "not-a-key-SECRET-9f8e";
        let bad = args(&[
            "--push-url",
            "http://127.0.0.1:9/wx",
            "--push-token",
            "tok-123",
            "--push-aes-key",
            bad_key,
        ]);
        let e = bad.push_target().unwrap_err().to_string();
        assert!(e.contains("--push-aes-key") && !e.contains(bad_key), "{e}");
    }

    #[test]
    fn the_command_line_with_the_shared_flags_is_consistent() {
        use clap::CommandFactory as _;
        // clap's own checks: no flag name used twice, the global options and the shared
        // ones with the same id fit together.
        Cli::command().debug_assert();
    }

    #[test]
    fn old_names_are_aliases_and_shared_flags_may_come_before_the_command() {
        let new = args(&[
            "--appid",
            "wxNEW",
            "--secret-file",
            "/tmp/s",
            "--card",
            "pA",
        ]);
        let old = args(&[
            "--accept-appid",
            "wxNEW",
            "--accept-secret-file",
            "/tmp/s",
            "--card",
            "pA",
        ]);
        for a in [&new, &old] {
            assert_eq!(a.appid, "wxNEW");
            assert_eq!(
                a.secret_file.as_deref(),
                Some(std::path::Path::new("/tmp/s"))
            );
            assert_eq!(a.cards, ["pA"]);
            assert_eq!(a.seed, None);
            assert!(!a.json);
        }
        // --appid, --secret-file and --json are the global options of every command.
        let cli = Cli::try_parse_from([
            "wxcard",
            "--appid",
            "wxBEFORE",
            "--secret-file",
            "/tmp/t",
            "--json",
            "sandbox",
            "serve",
        ])
        .unwrap();
        let Command::Sandbox(SandboxCommand::Serve(a)) = cli.command else {
            unreachable!("sandbox serve")
        };
        assert_eq!(a.appid, "wxBEFORE");
        assert_eq!(
            a.secret_file.as_deref(),
            Some(std::path::Path::new("/tmp/t"))
        );
        assert!(a.json);
        // Without --appid: the sandbox's own.
        assert_eq!(args(&[]).appid, wxcard::sandbox::Sandbox::DEFAULT_APPID);
        // --secret and --secret-file exclude each other.
        assert!(
            Cli::try_parse_from([
                "wxcard",
                "sandbox",
                "serve",
                "--secret",
                "x",
                "--secret-file",
                "/tmp/s"
            ])
            .is_err()
        );
    }

    #[test]
    fn the_merged_secret_flags_never_show_in_debug() {
        let cli = Cli::try_parse_from([
            "wxcard",
            "sandbox",
            "serve",
            "--secret",
            "app-secret-SHOWN-1",
            "--push-url",
            "http://127.0.0.1:9/wx",
            "--push-token",
            "tok-SHOWN-2",
            "--push-aes-key",
            KEY,
        ])
        .unwrap();
        let shown = format!("{cli:?}");
        for secret in ["app-secret-SHOWN-1", "tok-SHOWN-2", KEY] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    #[test]
    fn serve_errors_get_the_cli_exit_codes() {
        let usage = cli_error(ServeError::Usage("bad".to_owned()));
        assert_eq!(usage.exit_code(), exit::USAGE);
        let card = cli_error(ServeError::Card {
            context: "--card \"\"".to_owned(),
            source: wxcard::sandbox::SandboxError::InvalidCardId,
        });
        assert_eq!(card.exit_code(), exit::INPUT);
        let io = cli_error(ServeError::Io {
            context: "listening on 127.0.0.1:1".to_owned(),
            source: std::io::Error::from(std::io::ErrorKind::AddrInUse),
        });
        assert_eq!(io.exit_code(), exit::LOCAL);
        assert!(io.to_string().starts_with("listening on 127.0.0.1:1: "));
        // A secret file that cannot be read or is empty.
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, " \n").unwrap();
        let e = args(&["--secret-file", empty.to_str().unwrap()])
            .accepted_secret()
            .unwrap_err();
        assert_eq!(cli_error(e).exit_code(), exit::USAGE);
        let e = args(&["--secret-file", dir.path().join("none").to_str().unwrap()])
            .accepted_secret()
            .unwrap_err();
        assert_eq!(cli_error(e).exit_code(), exit::LOCAL);
    }
}
