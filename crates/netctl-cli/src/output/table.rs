//! Columns aligned as Go's tabwriter does for the docker CLI (padding 3).

pub fn render(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if c + 1 < row.len() {
                line.push_str(&" ".repeat(widths[c] - cell.chars().count() + 3));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn aligns_with_three_spaces() {
        let rows = vec![
            vec!["NETWORK ID".to_string(), "NAME".into(), "DRIVER".into()],
            vec!["abc".into(), "backend-network".into(), "bridge".into()],
        ];
        assert_eq!(
            super::render(&rows),
            "NETWORK ID   NAME              DRIVER\nabc          backend-network   bridge\n"
        );
    }
}
