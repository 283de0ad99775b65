//! `protocol man` and `protocol completions SHELL`: the manual page and the completion scripts,
//! made from the command line's own definition (clap), so they cannot drift from it.

use clap::Command;

/// The manual page (roff): clap_mangen's title, synopsis, description and options, then each
/// subcommand with its arguments in this one page, then what the README says about exit
/// codes, files and the environment.
pub fn man_page(command: Command) -> std::io::Result<Vec<u8>> {
    let man = clap_mangen::Man::new(command.clone()).manual("Protocol server");
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    out.extend_from_slice(b".SH COMMANDS\n");
    for sub in command.get_subcommands() {
        let arguments: Vec<String> = sub
            .get_positionals()
            .map(|arg| {
                let name = arg.get_id().as_str().to_uppercase();
                if arg.is_required_set() {
                    name
                } else {
                    format!("[{name}]")
                }
            })
            .collect();
        out.extend_from_slice(
            format!(
                ".TP\n\\fBprotocol {}\\fR {}\n{}\n",
                roff(sub.get_name()),
                roff(&arguments.join(" ")),
                roff(&about(sub))
            )
            .as_bytes(),
        );
        for arg in sub.get_positionals() {
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            out.extend_from_slice(
                format!(
                    ".RS\n.TP\n\\fI{}\\fR\n{}\n.RE\n",
                    roff(&arg.get_id().as_str().to_uppercase()),
                    roff(&help)
                )
                .as_bytes(),
            );
        }
    }
    out.extend_from_slice(
        b".SH EXIT STATUS\n0: success. 1: failure; one line on standard error says why. 2: bad usage.\n\
          .SH ENVIRONMENT\n.TP\n\\fBPROTOCOL_CONFIG\\fR\nThe config file, as \\fB\\-\\-config\\fR.\n\
          .TP\n\\fBPROTOCOL_LISTEN\\fR, \\fBPROTOCOL_DATABASE\\fR\nOverride \\fBlisten\\fR and \\fBdatabase\\fR \
          of the config file (a relative \\fBPROTOCOL_DATABASE\\fR is taken from the current folder).\n\
          .TP\n\\fBPROTOCOL_S3_ACCESS_KEY_ID\\fR, \\fBPROTOCOL_S3_SECRET_ACCESS_KEY\\fR\nThe S3 credentials \
          of \\fBstore = \"s3\"\\fR, over the config file's; \\fBAWS_ACCESS_KEY_ID\\fR, \
          \\fBAWS_SECRET_ACCESS_KEY\\fR and \\fBAWS_REGION\\fR where neither sets them.\n\
          .TP\n\\fBRUST_LOG\\fR\nWhich log lines reach standard error (default \\fBinfo\\fR; \\fBwarn\\fR \
          silences the access log).\n\
          .SH FILES\n.TP\n\\fIprotocol.toml\\fR\nThe config file. A relative \\fBdatabase\\fR in it is taken \
          from the file's folder.\n.TP\n\\fIDATABASE\\fR, \\fIDATABASE\\-files/\\fR\nThe SQLite database and the \
          attachments' bytes beside it; back up both (\\fBprotocol backup\\fR does).\n",
    );
    Ok(out)
}

fn about(command: &Command) -> String {
    command
        .get_long_about()
        .or(command.get_about())
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// Text for roff: backslashes and hyphens escaped, no line starting with a control character.
fn roff(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    escaped
        .lines()
        .map(|line| {
            if line.starts_with(['.', '\'']) {
                format!("\\&{line}")
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The completion script for `shell`.
pub fn completions(shell: clap_complete::Shell, mut command: Command) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "protocol", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roff_text_is_escaped() {
        assert_eq!(roff("a-b \\ c"), "a\\-b \\e c");
        assert_eq!(roff(".TH x\n'y"), "\\&.TH x\n\\&'y");
    }
}
