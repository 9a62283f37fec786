//! Table definitions in Delta / Spark SQL column syntax, as `zerobus serve --table` takes them:
//!
//! ```text
//! main.default.air_quality(device_name STRING NOT NULL, temp INT, humidity BIGINT,
//!     at TIMESTAMP, tags ARRAY<STRING>, loc STRUCT<lat: DOUBLE, lon: DOUBLE>)
//! ```
//!
//! Type names are case-insensitive and take their Spark aliases (`LONG`, `INTEGER`, `DEC`,
//! `VARCHAR(n)`, …); a name may be back-quoted; `NOT NULL` and `COMMENT '…'` may follow a column
//! or a struct field. A tables file holds any number of definitions, separated by `;` or white
//! space, with `--` or `#` comments.

use crate::types::{Column, DataType, SchemaError, StructField, TableSchema};

/// Parses one table definition.
pub fn parse_table(text: &str) -> Result<TableSchema, SchemaError> {
    let mut p = Parser { s: text, pos: 0 };
    let table = p.table()?;
    p.skip_ws();
    if !p.at_end() {
        return Err(p.error("unexpected text after the closing `)`"));
    }
    Ok(table)
}

/// Parses every table definition of a tables file.
pub fn parse_tables(text: &str) -> Result<Vec<TableSchema>, SchemaError> {
    let mut p = Parser { s: text, pos: 0 };
    let mut tables: Vec<TableSchema> = Vec::new();
    loop {
        p.skip_ws();
        while p.eat(';') {
            p.skip_ws();
        }
        if p.at_end() {
            return Ok(tables);
        }
        let table = p.table()?;
        if tables.iter().any(|t| t.full_name() == table.full_name()) {
            return Err(SchemaError::new(format!("table {} is defined twice", table.full_name())));
        }
        tables.push(table);
    }
}

/// Parses a column type alone (`DECIMAL(10,2)`, `ARRAY<STRUCT<a: INT>>`).
pub fn parse_type(text: &str) -> Result<DataType, SchemaError> {
    let mut p = Parser { s: text, pos: 0 };
    let ty = p.data_type()?;
    p.skip_ws();
    if !p.at_end() {
        return Err(p.error("unexpected text after the type"));
    }
    Ok(ty)
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn error(&self, what: &str) -> SchemaError {
        let line = self.s[..self.pos].matches('\n').count() + 1;
        let near: String = self.rest().chars().take(24).collect();
        let near = if near.is_empty() { "the end".to_string() } else { format!("{near:?}") };
        SchemaError::new(format!("table definition, line {line}, near {near}: {what}"))
    }

    fn skip_ws(&mut self) {
        loop {
            let rest = self.rest();
            let trimmed = rest.trim_start();
            self.pos += rest.len() - trimmed.len();
            if trimmed.starts_with("--") || trimmed.starts_with('#') {
                self.pos += trimmed.find('\n').unwrap_or(trimmed.len());
            } else {
                return;
            }
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.rest().starts_with(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char, what: &str) -> Result<(), SchemaError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.error(&format!("expected `{c}` {what}")))
        }
    }

    /// A bare word or a back-quoted name (where ``` `` ``` is a literal back quote).
    fn ident(&mut self, what: &str) -> Result<String, SchemaError> {
        self.skip_ws();
        let rest = self.rest();
        if let Some(quoted) = rest.strip_prefix('`') {
            let mut name = String::new();
            let mut chars = quoted.char_indices();
            while let Some((i, c)) = chars.next() {
                if c == '`' {
                    if quoted[i + 1..].starts_with('`') {
                        name.push('`');
                        chars.next();
                        continue;
                    }
                    self.pos += 1 + i + 1;
                    if name.is_empty() {
                        return Err(self.error(&format!("{what} is empty")));
                    }
                    return Ok(name);
                }
                name.push(c);
            }
            return Err(self.error(&format!("{what}: back-quoted name is not closed")));
        }
        let len = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
        if len == 0 {
            return Err(self.error(&format!("expected {what}")));
        }
        self.pos += len;
        Ok(rest[..len].to_string())
    }

    fn keyword(&mut self, word: &str) -> bool {
        self.skip_ws();
        let rest = self.rest();
        let len = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
        if rest[..len].eq_ignore_ascii_case(word) {
            self.pos += len;
            true
        } else {
            false
        }
    }

    fn number(&mut self, what: &str) -> Result<u32, SchemaError> {
        self.skip_ws();
        let rest = self.rest();
        let len = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let n = rest[..len].parse().map_err(|_| self.error(&format!("expected {what}")))?;
        self.pos += len;
        Ok(n)
    }

    fn string_literal(&mut self) -> Result<String, SchemaError> {
        self.skip_ws();
        let rest = self.rest();
        let Some(quote) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') else {
            return Err(self.error("expected a quoted comment"));
        };
        let mut out = String::new();
        let mut chars = rest[1..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, e)) = chars.next() {
                        out.push(e);
                    }
                }
                c if c == quote => {
                    self.pos += 1 + i + 1;
                    return Ok(out);
                }
                c => out.push(c),
            }
        }
        Err(self.error("comment is not closed"))
    }

    fn table(&mut self) -> Result<TableSchema, SchemaError> {
        let catalog = self.ident("a table name `catalog.schema.table`")?;
        self.expect('.', "in the table name `catalog.schema.table`")?;
        let schema = self.ident("the schema part of the table name")?;
        self.expect('.', "in the table name `catalog.schema.table`")?;
        let name = self.ident("the table part of the table name")?;
        let full = format!("{catalog}.{schema}.{name}");
        self.expect('(', &format!("after {full}: list its columns, e.g. {full}(id BIGINT NOT NULL)"))?;
        let mut columns: Vec<Column> = Vec::new();
        loop {
            let (name, data_type, nullable, comment) = self.field("a column name")?;
            if columns.iter().any(|c| c.name.eq_ignore_ascii_case(&name)) {
                return Err(self.error(&format!("table {full}: column {name} is defined twice")));
            }
            let position = columns.len() as u32;
            columns.push(Column { name, data_type, nullable, position, comment });
            if self.eat(')') {
                break;
            }
            self.expect(',', &format!("or `)` after a column of {full}"))?;
        }
        Ok(TableSchema { catalog, schema, name, columns })
    }

    /// `name [:] TYPE [NOT NULL] [COMMENT '…']`.
    fn field(&mut self, what: &str) -> Result<(String, DataType, bool, Option<String>), SchemaError> {
        let name = self.ident(what)?;
        self.eat(':');
        let data_type = self.data_type().map_err(|e| SchemaError::new(format!("{name}: {e}")))?;
        let nullable = if self.keyword("NOT") {
            if !self.keyword("NULL") {
                return Err(self.error("expected NULL after NOT"));
            }
            false
        } else {
            self.keyword("NULL");
            true
        };
        let comment = if self.keyword("COMMENT") { Some(self.string_literal()?) } else { None };
        Ok((name, data_type, nullable, comment))
    }

    fn data_type(&mut self) -> Result<DataType, SchemaError> {
        let word = self.ident("a type")?.to_ascii_uppercase();
        let ty = match word.as_str() {
            "BOOLEAN" | "BOOL" => DataType::Boolean,
            "TINYINT" | "BYTE" => DataType::Byte,
            "SMALLINT" | "SHORT" => DataType::Short,
            "INT" | "INTEGER" => DataType::Int,
            "BIGINT" | "LONG" => DataType::Long,
            "FLOAT" | "REAL" => DataType::Float,
            "DOUBLE" => DataType::Double,
            "DATE" => DataType::Date,
            "TIMESTAMP" | "TIMESTAMP_LTZ" => DataType::Timestamp,
            "TIMESTAMP_NTZ" => DataType::TimestampNtz,
            "STRING" => DataType::String,
            "VARCHAR" | "CHAR" => {
                self.expect('(', &format!("after {word}: give its length, e.g. {word}(20)"))?;
                self.number("a length")?;
                self.expect(')', "after the length")?;
                DataType::String
            }
            "BINARY" => DataType::Binary,
            "DECIMAL" | "DEC" | "NUMERIC" => {
                let (mut precision, mut scale) = (10, 0);
                if self.eat('(') {
                    precision = self.number("a precision")?;
                    if self.eat(',') {
                        scale = self.number("a scale")?;
                    }
                    self.expect(')', "after the decimal's precision and scale")?;
                }
                decimal(precision, scale)?
            }
            "VARIANT" => DataType::Variant,
            "ARRAY" => {
                self.expect('<', "after ARRAY, e.g. ARRAY<STRING>")?;
                let element = self.data_type()?;
                self.expect('>', "to close ARRAY<…>")?;
                DataType::Array { element: Box::new(element), contains_null: true }
            }
            "MAP" => {
                self.expect('<', "after MAP, e.g. MAP<STRING, INT>")?;
                let key = self.data_type()?;
                self.expect(',', "between the key and value types of MAP<K, V>")?;
                let value = self.data_type()?;
                self.expect('>', "to close MAP<…>")?;
                DataType::Map { key: Box::new(key), value: Box::new(value), value_contains_null: true }
            }
            "STRUCT" => {
                self.expect('<', "after STRUCT, e.g. STRUCT<lat: DOUBLE, lon: DOUBLE>")?;
                let mut fields: Vec<StructField> = Vec::new();
                if !self.eat('>') {
                    loop {
                        let (name, data_type, nullable, _) = self.field("a struct field name")?;
                        if fields.iter().any(|f| f.name.eq_ignore_ascii_case(&name)) {
                            return Err(self.error(&format!("struct field {name} is defined twice")));
                        }
                        fields.push(StructField { name, data_type, nullable });
                        if self.eat('>') {
                            break;
                        }
                        self.expect(',', "or `>` after a struct field")?;
                    }
                }
                DataType::Struct(fields)
            }
            other => {
                return Err(self.error(&format!(
                    "unknown type {other}; use BOOLEAN, TINYINT, SMALLINT, INT, BIGINT, FLOAT, DOUBLE, \
                     DATE, TIMESTAMP, TIMESTAMP_NTZ, STRING, BINARY, DECIMAL(p,s), VARIANT, ARRAY<…>, \
                     MAP<…>, STRUCT<…>"
                )))
            }
        };
        Ok(ty)
    }
}

/// A `DECIMAL(p,s)` checked against Delta's limits.
pub(crate) fn decimal(precision: u32, scale: u32) -> Result<DataType, SchemaError> {
    if !(1..=38).contains(&precision) || scale > precision {
        return Err(SchemaError::new(format!(
            "DECIMAL({precision},{scale}) is out of range: precision must be 1..=38 and scale 0..=precision"
        )));
    }
    Ok(DataType::Decimal { precision: precision as u8, scale: scale as u8 })
}
