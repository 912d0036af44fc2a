//! Columns aligned as the docker CLI aligns its tables: Go's text/tabwriter (its
//! fork in docker/cli) with minwidth 10, tabwidth 1, padding 3, spaces, no flags.
//! Cells end at a tab; a column's width is its widest cell plus 3 (at least 10)
//! over a block of consecutive lines that have that column; a line's last cell is
//! not padded, and a line without a tab ends the block above it.

const MIN_WIDTH: usize = 10;
const PADDING: usize = 3;

#[derive(Default)]
struct Cell {
    text: String,
    width: usize,
}

#[derive(Default)]
struct Writer {
    lines: Vec<Vec<Cell>>,
    cell: Cell,
    widths: Vec<usize>,
    out: String,
}

/// `text` (cells separated by tabs, rows by newlines) laid out in columns.
pub fn tabwrite(text: &str) -> String {
    let mut w = Writer { lines: vec![Vec::new()], ..Default::default() };
    for ch in text.chars() {
        match ch {
            '\t' | '\n' => {
                let cell = std::mem::take(&mut w.cell);
                let line = w.lines.last_mut().expect("a line");
                line.push(cell);
                let cells = line.len();
                if ch == '\n' {
                    w.lines.push(Vec::new());
                    if cells == 1 {
                        w.flush();
                    }
                }
            }
            c => {
                w.cell.text.push(c);
                w.cell.width += 1;
            }
        }
    }
    if !w.cell.text.is_empty() {
        let cell = std::mem::take(&mut w.cell);
        w.lines.last_mut().expect("a line").push(cell);
    }
    w.flush();
    w.out
}

impl Writer {
    fn flush(&mut self) {
        self.format(0, self.lines.len());
        // Only the incomplete last line is kept, as Go's reset keeps none but
        // starts a new one: whatever was in it has been written.
        self.lines = vec![Vec::new()];
    }

    fn write_lines(&mut self, line0: usize, line1: usize) {
        for i in line0..line1 {
            for (j, c) in self.lines[i].iter().enumerate() {
                self.out.push_str(&c.text);
                if let Some(width) = self.widths.get(j) {
                    self.out.extend(std::iter::repeat_n(' ', width - c.width));
                }
            }
            if i + 1 < self.lines.len() {
                self.out.push('\n');
            }
        }
    }

    fn format(&mut self, mut line0: usize, line1: usize) {
        let column = self.widths.len();
        let mut this = line0;
        while this < line1 {
            if column + 1 >= self.lines[this].len() {
                this += 1;
                continue;
            }
            // A block of lines with a cell in this column (not their last) starts here.
            self.write_lines(line0, this);
            line0 = this;
            let mut width = MIN_WIDTH;
            while this < line1 && column + 1 < self.lines[this].len() {
                width = width.max(self.lines[this][column].width + PADDING);
                this += 1;
            }
            self.widths.push(width);
            self.format(line0, this);
            self.widths.pop();
            line0 = this;
            // Go's loop steps over the line that ended the block: it has no cell here.
            this += 1;
        }
        self.write_lines(line0, line1);
    }
}

#[cfg(test)]
mod tests {
    use super::tabwrite;

    #[test]
    fn aligns_as_docker_does() {
        // `docker network ls`: NAME is padded to the minimum width of 10.
        assert_eq!(
            tabwrite("NETWORK ID\tNAME\tDRIVER\tSCOPE\n0123456789ab\tbridge\tbridge\tlocal\n"),
            "NETWORK ID     NAME      DRIVER    SCOPE\n0123456789ab   bridge    bridge    local\n"
        );
        assert_eq!(
            tabwrite("NAME\tDRIVER\nbackend-network\tbridge\n"),
            "NAME              DRIVER\nbackend-network   bridge\n"
        );
    }

    #[test]
    fn empty_cells_are_padded_and_the_last_is_not() {
        assert_eq!(tabwrite("A\tB\tC\n\t\tlast\n"), "A         B         C\n                    last\n");
        // A trailing tab makes an empty last cell, after a padded one.
        assert_eq!(tabwrite("ID\t\nx\t\n"), "ID        \nx         \n");
    }

    #[test]
    fn a_line_without_tabs_ends_a_block() {
        assert_eq!(
            tabwrite("a\tb\nlonger-than-ten-chars\tc\nplain\nx\ty\n"),
            "a                       b\nlonger-than-ten-chars   c\nplain\nx         y\n"
        );
        assert_eq!(tabwrite("no tabs at all"), "no tabs at all");
        assert_eq!(tabwrite(""), "");
    }
}
