//! The message shape of a framed record that no signature matched, for the report's
//! templates section.

use crate::framing::{expand_json_with, split_leading_time, Record, TimeParser};

use super::{json_level, line_level, mask, severity};

/// Reads records' levels and masks their messages, one record after another.
pub(crate) struct Shaper {
    tp: TimeParser,
    buf: String,
}

impl Shaper {
    pub(crate) fn new() -> Shaper {
        Shaper {
            tp: TimeParser::new(),
            buf: String::new(),
        }
    }

    /// The severity and shape of `r`'s message when its level is at least `floor`: a text
    /// record's first line without its leading time, a JSON record's message field.
    /// `json_fields` are the catalog's extra traceback fields.
    pub(crate) fn shape(
        &mut self,
        r: &Record<'_>,
        floor: u8,
        json_fields: &[String],
    ) -> Option<(u8, &str)> {
        let first = r.lines.first()?.text;
        self.buf.clear();
        let level = match r.json {
            true => {
                let level = json_level(first)?;
                if (severity(level) as u8) < floor {
                    return None;
                }
                let j = expand_json_with(first, json_fields)?;
                mask(j.lines.first()?, &mut self.buf);
                level
            }
            false => {
                let (_, rest) = split_leading_time(first, &mut self.tp);
                let msg = String::from_utf8_lossy(rest);
                let level = line_level(&msg)?;
                if (severity(level) as u8) < floor {
                    return None;
                }
                mask(&msg, &mut self.buf);
                level
            }
        };
        Some((severity(level) as u8, &self.buf))
    }
}
