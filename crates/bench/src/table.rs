//! The one table layout of every benchmark report: a Markdown table (it pastes into the README
//! as it is), the first column left-aligned and the others, numbers, right-aligned.

use comfy_table::{presets::ASCII_MARKDOWN, CellAlignment, Table};

/// An empty table with these column headers.
pub fn table<T: ToString>(header: impl IntoIterator<Item = T>) -> Table {
    let mut t = Table::new();
    t.load_preset(ASCII_MARKDOWN)
        .set_header(header.into_iter().map(|h| h.to_string()));
    for column in t.column_iter_mut().skip(1) {
        column.set_cell_alignment(CellAlignment::Right);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_markdown_with_numbers_on_the_right() {
        let mut t = table(["variant", "solved"]);
        t.add_row(["ours", "3/4"]);
        t.add_row(["seed-style", "10/45"]);
        let text = t.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].starts_with("| variant "), "{text}");
        assert!(lines[1].starts_with("|--"), "{text}");
        assert!(
            lines[2].starts_with("| ours ") && lines[2].ends_with("   3/4 |"),
            "{text}"
        );
    }
}
