//! Recursive-descent parser for filters and attribute paths (RFC 7644 §3.4.2.2, Figure 1):
//!
//! ```text
//! filter   = term *("or" term)        term  = unary *("and" unary)
//! unary    = "not" "(" filter ")" / "(" filter ")" / attrExp / valuePath
//! attrExp  = path "pr" / path compareOp compValue
//! path     = [urn ":"] attr ["." sub] / [urn ":"] attr "[" valFilter "]" ["." sub]
//! ```
//! A value filter is the same grammar without nested value paths.

use serde_json::Value;

use super::{CompareOp, Filter, MAX_FILTER_DEPTH, Token};
use crate::error::{ScimError, ScimType};
use crate::path::AttrPath;

pub(crate) struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
    kind: ScimType,
}

impl Parser {
    /// `kind` is the scimType of every error: invalidFilter for filters, invalidPath for paths.
    pub(crate) fn new(tokens: Vec<Token>, kind: ScimType) -> Self {
        Parser {
            tokens,
            pos: 0,
            depth: 0,
            kind,
        }
    }

    pub(crate) fn filter_to_end(mut self) -> Result<Filter, ScimError> {
        let f = self.or_expr(false)?;
        self.end()?;
        Ok(f)
    }

    pub(crate) fn path_to_end(mut self) -> Result<AttrPath, ScimError> {
        let p = self.path(false)?;
        self.end()?;
        Ok(p)
    }

    fn err(&self, detail: impl Into<String>) -> ScimError {
        ScimError::bad_request(self.kind, detail)
    }

    fn end(&self) -> Result<(), ScimError> {
        match self.peek() {
            None => Ok(()),
            Some(t) => Err(self.err(format!("unexpected {} at the end", describe(t)))),
        }
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn peek_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn expect(&mut self, want: Token) -> Result<(), ScimError> {
        match self.next() {
            Some(t) if t == want => Ok(()),
            Some(t) => Err(self.err(format!(
                "expected {}, found {}",
                describe(&want),
                describe(&t)
            ))),
            None => Err(self.err(format!("expected {}, found the end", describe(&want)))),
        }
    }

    fn enter(&mut self) -> Result<(), ScimError> {
        self.depth += 1;
        if self.depth > MAX_FILTER_DEPTH {
            return Err(self.err(format!("nesting deeper than {MAX_FILTER_DEPTH}")));
        }
        Ok(())
    }

    fn or_expr(&mut self, in_vf: bool) -> Result<Filter, ScimError> {
        let mut terms = vec![self.and_expr(in_vf)?];
        while self.peek_keyword("or") {
            self.pos += 1;
            terms.push(self.and_expr(in_vf)?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Filter::Or(terms)
        })
    }

    fn and_expr(&mut self, in_vf: bool) -> Result<Filter, ScimError> {
        let mut terms = vec![self.unary(in_vf)?];
        while self.peek_keyword("and") {
            self.pos += 1;
            terms.push(self.unary(in_vf)?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Filter::And(terms)
        })
    }

    fn unary(&mut self, in_vf: bool) -> Result<Filter, ScimError> {
        let not = self.peek_keyword("not") && self.tokens.get(self.pos + 1) == Some(&Token::LParen);
        if not {
            self.pos += 1;
        }
        if not || self.peek() == Some(&Token::LParen) {
            self.enter()?;
            self.expect(Token::LParen)?;
            let inner = self.or_expr(in_vf)?;
            self.expect(Token::RParen)?;
            self.depth -= 1;
            return Ok(if not {
                Filter::Not(Box::new(inner))
            } else {
                inner
            });
        }
        self.attr_exp(in_vf)
    }

    fn attr_exp(&mut self, in_vf: bool) -> Result<Filter, ScimError> {
        let path = self.path(in_vf)?;
        let op = match self.peek() {
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("pr") => {
                self.pos += 1;
                return Ok(Filter::Present(path));
            }
            Some(Token::Word(w)) => CompareOp::parse(w),
            _ => None,
        };
        let Some(op) = op else {
            if path.value_filter().is_some() && path.sub_attribute().is_none() {
                return Ok(Filter::ValuePath(path));
            }
            let found = self
                .peek()
                .map(describe)
                .unwrap_or_else(|| "the end".into());
            return Err(self.err(format!("expected an operator after {path}, found {found}")));
        };
        self.pos += 1;
        let value = self.comp_value()?;
        check_operand(op, &value).map_err(|d| self.err(d))?;
        Ok(Filter::Compare { path, op, value })
    }

    fn comp_value(&mut self) -> Result<Value, ScimError> {
        match self.next() {
            Some(Token::Str(s)) => Ok(Value::String(s)),
            Some(Token::Word(w)) => match w.to_ascii_lowercase().as_str() {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                "null" => Ok(Value::Null),
                _ => number(&w).map(Value::Number).ok_or_else(|| {
                    self.err(format!("{w:?} is not a value (strings need double quotes)"))
                }),
            },
            Some(t) => Err(self.err(format!("expected a value, found {}", describe(&t)))),
            None => Err(self.err("expected a value, found the end")),
        }
    }

    /// An attribute path; inside a value filter (`in_vf`) another value filter is refused.
    pub(crate) fn path(&mut self, in_vf: bool) -> Result<AttrPath, ScimError> {
        let word = match self.next() {
            Some(Token::Word(w)) => w,
            Some(t) => {
                return Err(self.err(format!("expected an attribute, found {}", describe(&t))));
            }
            None => return Err(self.err("expected an attribute, found the end")),
        };
        let (urn, attr, sub) = split_word(&word).map_err(|d| self.err(d))?;
        if self.peek() != Some(&Token::LBracket) {
            return Ok(AttrPath::from_parts(urn, attr, None, sub));
        }
        if sub.is_some() || in_vf {
            return Err(self.err(format!("a value filter cannot follow {word}")));
        }
        self.enter()?;
        self.pos += 1;
        let filter = self.or_expr(true)?;
        self.expect(Token::RBracket)?;
        self.depth -= 1;
        let sub = match self.peek() {
            Some(Token::Word(w)) if w.starts_with('.') => {
                let name = w.get(1..).unwrap_or_default().to_string();
                check_name(&name).map_err(|d| self.err(d))?;
                self.pos += 1;
                Some(name)
            }
            _ => None,
        };
        Ok(AttrPath::from_parts(urn, attr, Some(filter), sub))
    }
}

/// A JSON number. Non-integers go through `str::parse::<f64>`, which rounds correctly, so the
/// canonical form (shortest round-trip digits) parses back to the same value; serde_json's
/// default float parser can be off by one ulp on long mantissas.
fn number(word: &str) -> Option<serde_json::Number> {
    let n = serde_json::from_str::<serde_json::Number>(word).ok()?;
    if n.is_i64() || n.is_u64() {
        return Some(n);
    }
    serde_json::Number::from_f64(word.parse::<f64>().ok()?)
}

/// Operator/operand combinations RFC 7644 §3.4.2.2 rules out.
fn check_operand(op: CompareOp, value: &Value) -> Result<(), String> {
    use CompareOp::*;
    let ok = match (op, value) {
        (Eq | Ne, _) => true,
        (Co | Sw | Ew, v) => v.is_string(),
        (Gt | Ge | Lt | Le, v) => v.is_string() || v.is_number(),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{} cannot compare with {value}", op.as_str()))
    }
}

/// Splits `urn:…:attr.sub` into its parts. A URN ends at the last `:`.
pub(crate) fn split_word(word: &str) -> Result<(Option<String>, String, Option<String>), String> {
    let (urn, rest) = match word.rfind(':') {
        Some(i) => {
            let urn = word.get(..i).unwrap_or_default();
            let is_urn =
                urn.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) && urn.len() > 4;
            if !is_urn {
                return Err(format!("{word:?}: a schema prefix must be a URN"));
            }
            (Some(urn.to_string()), word.get(i + 1..).unwrap_or_default())
        }
        None => (None, word),
    };
    let (attr, sub) = match rest.split_once('.') {
        Some((a, s)) => (a, Some(s)),
        None => (rest, None),
    };
    check_name(attr)?;
    if let Some(s) = sub {
        check_name(s)?;
    }
    Ok((urn, attr.to_string(), sub.map(str::to_string)))
}

/// ATTRNAME = ALPHA *(nameChar), plus `$ref`.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '$');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        Ok(())
    } else {
        Err(format!("{name:?} is not an attribute name"))
    }
}

fn describe(t: &Token) -> String {
    match t {
        Token::LParen => "'('".into(),
        Token::RParen => "')'".into(),
        Token::LBracket => "'['".into(),
        Token::RBracket => "']'".into(),
        Token::Word(w) => format!("{w:?}"),
        Token::Str(s) => format!("string {s:?}"),
    }
}
