//! A JSON scanner over one record's text: it hands out tokens as slices of the input (strings
//! unescaped only when they hold escapes) and never builds a tree.

use std::borrow::Cow;

/// What the next value is, from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    Object,
    Array,
    String,
    Number,
    True,
    False,
    Null,
}

pub(crate) struct Scanner<'a> {
    pub text: &'a str,
    pub pos: usize,
}

/// A syntax error: what was expected, and where.
pub(crate) type SyntaxError = String;

const MAX_SKIP_DEPTH: usize = 256;

impl<'a> Scanner<'a> {
    pub fn new(text: &'a str) -> Self {
        Scanner { text, pos: 0 }
    }

    #[inline]
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    #[inline]
    pub fn skip_ws(&mut self) {
        let b = self.bytes();
        while let Some(&c) = b.get(self.pos) {
            if c == b' ' || c == b'\n' || c == b'\r' || c == b'\t' {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    pub fn at_end(&mut self) -> bool {
        self.skip_ws();
        self.pos >= self.text.len()
    }

    pub fn syntax(&self, what: &str) -> SyntaxError {
        if self.pos >= self.text.len() {
            format!("malformed JSON: {what}, found the end of the text")
        } else {
            let near: String = self.text[self.pos..].chars().take(16).collect();
            format!("malformed JSON at byte {}: {what}, found {near:?}", self.pos)
        }
    }

    /// The kind of the next value, without consuming it.
    #[inline]
    pub fn peek(&mut self) -> Result<Next, SyntaxError> {
        self.skip_ws();
        Ok(match self.bytes().get(self.pos) {
            Some(b'{') => Next::Object,
            Some(b'[') => Next::Array,
            Some(b'"') => Next::String,
            Some(b'-' | b'0'..=b'9') => Next::Number,
            Some(b't') => Next::True,
            Some(b'f') => Next::False,
            Some(b'n') => Next::Null,
            _ => return Err(self.syntax("expected a value")),
        })
    }

    /// Consumes `c` (after white space) or fails.
    #[inline]
    pub fn expect(&mut self, c: u8, what: &str) -> Result<(), SyntaxError> {
        self.skip_ws();
        if self.bytes().get(self.pos) == Some(&c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.syntax(what))
        }
    }

    /// Consumes `c` if it comes next.
    #[inline]
    pub fn eat(&mut self, c: u8) -> bool {
        self.skip_ws();
        if self.bytes().get(self.pos) == Some(&c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Consumes the literal `word` (`true`, `false`, `null`).
    pub fn literal(&mut self, word: &str) -> Result<(), SyntaxError> {
        if self.text[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.syntax(&format!("expected `{word}`")))
        }
    }

    /// Reads a string (the opening quote is next), unescaping into `scratch` only if needed.
    #[inline]
    pub fn string(&mut self, scratch: &mut String) -> Result<Cow<'a, str>, SyntaxError> {
        let b = self.bytes();
        let start = self.pos + 1;
        let mut i = start + crate::plain_run_len(&b[start.min(b.len())..]);
        while let Some(&c) = b.get(i) {
            match c {
                b'"' => {
                    self.pos = i + 1;
                    return Ok(Cow::Borrowed(&self.text[start..i]));
                }
                b'\\' => return self.escaped(start, i, scratch).map(Cow::Owned),
                0..=0x1f => {
                    self.pos = i;
                    return Err(self.syntax("control character in a string"));
                }
                _ => i += 1,
            }
        }
        self.pos = i;
        Err(self.syntax("unterminated string"))
    }

    fn escaped(
        &mut self,
        start: usize,
        first_escape: usize,
        scratch: &mut String,
    ) -> Result<String, SyntaxError> {
        let b = self.bytes();
        scratch.clear();
        scratch.push_str(&self.text[start..first_escape]);
        let mut i = first_escape;
        loop {
            let Some(&c) = b.get(i) else {
                self.pos = i;
                return Err(self.syntax("unterminated string"));
            };
            match c {
                b'"' => {
                    self.pos = i + 1;
                    return Ok(std::mem::take(scratch));
                }
                b'\\' => {
                    let e = b.get(i + 1).copied();
                    i += 2;
                    let ch = match e {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            let hi = self.hex4(i)?;
                            i += 4;
                            if (0xD800..0xDC00).contains(&hi) {
                                if b.get(i) != Some(&b'\\') || b.get(i + 1) != Some(&b'u') {
                                    self.pos = i;
                                    return Err(self.syntax("lone surrogate in a \\u escape"));
                                }
                                let lo = self.hex4(i + 2)?;
                                i += 6;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    self.pos = i;
                                    return Err(self.syntax("invalid surrogate pair in a \\u escape"));
                                }
                                let code = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                                char::from_u32(code).unwrap_or('\u{fffd}')
                            } else {
                                match char::from_u32(hi) {
                                    Some(c) => c,
                                    None => {
                                        self.pos = i;
                                        return Err(self.syntax("lone surrogate in a \\u escape"));
                                    }
                                }
                            }
                        }
                        _ => {
                            self.pos = i - 1;
                            return Err(self.syntax("invalid escape"));
                        }
                    };
                    scratch.push(ch);
                }
                0..=0x1f => {
                    self.pos = i;
                    return Err(self.syntax("control character in a string"));
                }
                _ => {
                    // Copy the run up to the next quote or backslash at once.
                    let run = crate::plain_run_len(&b[i..]);
                    scratch.push_str(&self.text[i..i + run]);
                    i += run;
                }
            }
        }
    }

    fn hex4(&mut self, at: usize) -> Result<u32, SyntaxError> {
        let digits = self.text.get(at..at + 4).and_then(|h| u32::from_str_radix(h, 16).ok());
        digits.ok_or_else(|| {
            self.pos = at;
            self.syntax("expected four hex digits after \\u")
        })
    }

    /// Reads a number and returns its text, checked against JSON's number grammar.
    #[inline]
    pub fn number(&mut self) -> Result<&'a str, SyntaxError> {
        let b = self.bytes();
        let start = self.pos;
        let mut i = start;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        let int_start = i;
        while matches!(b.get(i), Some(b'0'..=b'9')) {
            i += 1;
        }
        let int_len = i - int_start;
        if int_len == 0 || (int_len > 1 && b[int_start] == b'0') {
            self.pos = start;
            return Err(self.syntax("malformed number"));
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            let f = i;
            while matches!(b.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
            if i == f {
                self.pos = start;
                return Err(self.syntax("malformed number"));
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let e = i;
            while matches!(b.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
            if i == e {
                self.pos = start;
                return Err(self.syntax("malformed number"));
            }
        }
        self.pos = i;
        Ok(&self.text[start..i])
    }

    /// Skips one value of any kind and returns its text (used for VARIANT values).
    pub fn skip_value(&mut self, scratch: &mut String) -> Result<&'a str, SyntaxError> {
        self.skip_ws();
        let start = self.pos;
        // The open containers, innermost last: `{` or `[`.
        let mut open: Vec<u8> = Vec::new();
        loop {
            if open.len() > MAX_SKIP_DEPTH {
                return Err(self.syntax("nesting deeper than 256 levels"));
            }
            match self.peek()? {
                Next::Object => {
                    self.pos += 1;
                    if !self.eat(b'}') {
                        open.push(b'{');
                        self.key(scratch)?;
                        continue;
                    }
                }
                Next::Array => {
                    self.pos += 1;
                    if !self.eat(b']') {
                        open.push(b'[');
                        continue;
                    }
                }
                Next::String => {
                    self.string(scratch)?;
                }
                Next::Number => {
                    self.number()?;
                }
                Next::True => self.literal("true")?,
                Next::False => self.literal("false")?,
                Next::Null => self.literal("null")?,
            }
            // After a value: close containers, or go on to the next element.
            loop {
                let Some(&top) = open.last() else {
                    return Ok(&self.text[start..self.pos]);
                };
                if self.eat(b',') {
                    if top == b'{' {
                        self.key(scratch)?;
                    }
                    break;
                }
                if self.eat(if top == b'{' { b'}' } else { b']' }) {
                    open.pop();
                    continue;
                }
                return Err(self.syntax("expected `,` or a closing bracket"));
            }
        }
    }

    /// Reads `"key":` inside an object.
    fn key(&mut self, scratch: &mut String) -> Result<(), SyntaxError> {
        self.skip_ws();
        if self.bytes().get(self.pos) != Some(&b'"') {
            return Err(self.syntax("expected a key string"));
        }
        self.string(scratch)?;
        self.expect(b':', "expected `:` after a key")
    }
}
