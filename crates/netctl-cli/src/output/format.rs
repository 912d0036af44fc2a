//! `--format` for lists (`ps`, `network ls`), as docker/cli's formatter does it:
//! `table` (the command's default columns), `json` (`{{json .}}` per row), or a
//! template; a template that starts with `table` prints a header row of Docker's
//! column names first and is aligned in columns; `\t` and `\n` in the text are a
//! tab and a newline.

use std::collections::BTreeMap;

use super::table::tabwrite;
use super::template::{self, Error, Missing, Template};

pub struct Listing {
    text: String,
    table: bool,
    tmpl: Template,
}

impl Listing {
    /// `format` as the user gave it; `default` is the command's own `table ...`.
    pub fn new(format: Option<&str>, default: &str) -> Result<Self, Error> {
        let format = match format {
            None | Some("") | Some("table") => default,
            Some("json") => "{{json .}}",
            Some(f) => f,
        };
        let table = format.starts_with("table");
        let text = format
            .strip_prefix("table")
            .unwrap_or(format)
            .trim_matches(' ')
            .replace("\\t", "\t")
            .replace("\\n", "\n");
        let tmpl = Template::parse(&text, Missing::Error).map_err(parsing)?;
        Ok(Self { text, table, tmpl })
    }

    /// Every row through the template, each ended by a newline; for a table, the
    /// header first and all of it in columns. Nothing is printed when a row fails.
    pub fn render(
        &self,
        rows: &[serde_json::Value],
        headers: &BTreeMap<&str, &str>,
    ) -> Result<String, Error> {
        let mut out = String::new();
        if self.table {
            out.push_str(&template::header(&self.text, headers));
            out.push('\n');
        }
        for row in rows {
            out.push_str(&self.tmpl.render(row).map_err(parsing)?);
            out.push('\n');
        }
        Ok(if self.table { tabwrite(&out) } else { out })
    }
}

/// Docker's prefix for both parse and execution errors of a format.
pub fn parsing(e: Error) -> Error {
    Error(format!("template parsing error: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn headers() -> BTreeMap<&'static str, &'static str> {
        [("ID", "NETWORK ID"), ("Name", "NAME"), ("Driver", "DRIVER"), ("Scope", "SCOPE")].into()
    }

    fn rows() -> Vec<serde_json::Value> {
        vec![
            json!({"ID": "0123456789ab", "Name": "bridge", "Driver": "bridge", "Scope": "local"}),
            json!({"ID": "ba9876543210", "Name": "backend-network", "Driver": "bridge", "Scope": "local"}),
        ]
    }

    const DEFAULT: &str = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";

    #[test]
    fn default_table_json_and_templates() {
        let table = Listing::new(None, DEFAULT).unwrap().render(&rows(), &headers()).unwrap();
        assert_eq!(
            table,
            "NETWORK ID     NAME              DRIVER    SCOPE\n\
             0123456789ab   bridge            bridge    local\n\
             ba9876543210   backend-network   bridge    local\n"
        );
        assert_eq!(Listing::new(Some("table"), DEFAULT).unwrap().render(&rows(), &headers()).unwrap(), table);
        let json = Listing::new(Some("json"), DEFAULT).unwrap().render(&rows()[..1], &headers()).unwrap();
        assert_eq!(
            json,
            "{\"Driver\":\"bridge\",\"ID\":\"0123456789ab\",\"Name\":\"bridge\",\"Scope\":\"local\"}\n"
        );
        let plain = Listing::new(Some("{{.Name}}\\t{{upper .Scope}}"), DEFAULT).unwrap();
        assert_eq!(plain.render(&rows(), &headers()).unwrap(), "bridge\tLOCAL\nbackend-network\tLOCAL\n");
    }

    #[test]
    fn a_table_template_gets_dockers_headers() {
        let t = Listing::new(Some("table {{.Name}}\\t{{lower .Driver}}"), DEFAULT).unwrap();
        assert_eq!(
            t.render(&rows(), &headers()).unwrap(),
            "NAME              DRIVER\nbridge            bridge\nbackend-network   bridge\n"
        );
        // Only the header when nothing is listed.
        assert_eq!(t.render(&[], &headers()).unwrap(), "NAME      DRIVER\n");
        let t = Listing::new(Some("table{{.ID}}: {{.Name}}"), DEFAULT).unwrap();
        assert_eq!(t.render(&rows()[..1], &headers()).unwrap(), "NETWORK ID: NAME\n0123456789ab: bridge\n");
    }

    #[test]
    fn errors_say_template_parsing_error() {
        let e = Listing::new(Some("{{.Name"), DEFAULT).err().unwrap().to_string();
        assert_eq!(e, "template parsing error: template: :1: unclosed action");
        let e = Listing::new(Some("{{.Nope}}"), DEFAULT).unwrap().render(&rows(), &headers()).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"template parsing error: template: executing "": map has no entry for key "Nope""#
        );
    }
}
