//! A file's text as lines that keep their endings, for the settings editors of the
//! formats: a line replaced keeps its ending, a line added takes the file's newline
//! (CRLF in a CRLF file), and a file without a final newline keeps lacking it.

/// The lines of a text, each with its ending.
pub(crate) struct Lines {
    lines: Vec<String>,
    newline: &'static str,
}

impl Lines {
    pub(crate) fn new(text: &str) -> Lines {
        Lines {
            lines: text.split_inclusive('\n').map(str::to_string).collect(),
            newline: if text.contains("\r\n") { "\r\n" } else { "\n" },
        }
    }

    /// Line `index` (0-based) without its ending.
    pub(crate) fn get(&self, index: usize) -> &str {
        self.lines
            .get(index)
            .map_or("", |l| l.trim_end_matches('\n').trim_end_matches('\r'))
    }

    pub(crate) fn len(&self) -> usize {
        self.lines.len()
    }

    /// Replaces the content of line `index`, keeping its ending.
    pub(crate) fn replace(&mut self, index: usize, content: &str) {
        if let Some(line) = self.lines.get_mut(index) {
            let ending = line.len() - line.trim_end_matches('\n').trim_end_matches('\r').len();
            let ending = line[line.len() - ending..].to_string();
            *line = format!("{content}{ending}");
        }
    }

    /// Inserts `content` (one or more lines, `\n`-separated) after line `index`, or at
    /// the start when `index` is none; at the end of a file without a final newline, the
    /// old last line gets one and the new last line goes without.
    pub(crate) fn insert_after(&mut self, index: Option<usize>, content: &str) {
        let at = index.map_or(0, |i| (i + 1).min(self.lines.len()));
        let mut new: Vec<String> = content
            .split('\n')
            .map(|l| format!("{l}{}", self.newline))
            .collect();
        if at == self.lines.len()
            && let Some(last) = self.lines.last_mut()
            && !last.ends_with('\n')
        {
            last.push_str(self.newline);
            if let Some(l) = new.last_mut() {
                l.truncate(l.len() - self.newline.len());
            }
        }
        self.lines.splice(at..at, new);
    }

    /// Removes line `index`; removing the last line of a file without a final newline
    /// takes the ending of the line before it.
    pub(crate) fn remove(&mut self, index: usize) {
        if index >= self.lines.len() {
            return;
        }
        let had_ending = self.lines[index].ends_with('\n');
        self.lines.remove(index);
        if !had_ending
            && index == self.lines.len()
            && let Some(last) = self.lines.last_mut()
        {
            let kept = last.trim_end_matches('\n').trim_end_matches('\r').len();
            last.truncate(kept);
        }
    }

    pub(crate) fn text(&self) -> String {
        self.lines.concat()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endings_are_kept() {
        let mut l = Lines::new("a\r\nb");
        l.replace(0, "A");
        l.insert_after(Some(1), "c");
        assert_eq!(l.text(), "A\r\nb\r\nc");
        l.remove(2);
        assert_eq!(l.text(), "A\r\nb");
        let mut l = Lines::new("a\n");
        l.insert_after(Some(0), "\n[s]\nk = v");
        assert_eq!(l.text(), "a\n\n[s]\nk = v\n");
        let mut l = Lines::new("");
        l.insert_after(None, "k = v");
        assert_eq!(l.text(), "k = v\n");
    }
}
