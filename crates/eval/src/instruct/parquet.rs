//! Rows as Parquet with the released schema (the HF dataset's features: `id: string`,
//! `conversations: list<struct<content: string, role: string>>`), written and read with the
//! `parquet` crate's column and record APIs (no Arrow).

use std::sync::Arc;

use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::record::Field;
use parquet::schema::parser::parse_message_type;

use super::row::{Role, Row, Turn};

/// The schema as Arrow writes `list<struct<…>>` (three-level list, `element` items).
const SCHEMA: &str = "
message schema {
  optional binary id (STRING);
  optional group conversations (LIST) {
    repeated group list {
      optional group element {
        optional binary content (STRING);
        optional binary role (STRING);
      }
    }
  }
}";

/// Rows per row group.
const GROUP_ROWS: usize = 1024;

/// The Parquet file of `rows` (Snappy-compressed, as the released files are).
pub fn write_rows(rows: &[Row]) -> Result<Vec<u8>, parquet::errors::ParquetError> {
    let schema = Arc::new(parse_message_type(SCHEMA)?);
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build(),
    );
    let mut out = Vec::new();
    let mut writer = SerializedFileWriter::new(&mut out, schema, props)?;
    for group in rows.chunks(GROUP_ROWS) {
        let mut rg = writer.next_row_group()?;
        // id: defined (level 1) for every row.
        let ids: Vec<ByteArray> = group.iter().map(|r| r.id.as_str().into()).collect();
        write_column(&mut rg, &ids, &vec![1; ids.len()], None)?;
        // content, then role: one entry per turn (definition level 4, repeated from the
        // second turn of a row on), or one empty-list entry (level 1) for a row without turns.
        for field in [0, 1] {
            let (mut values, mut def, mut rep) = (Vec::new(), Vec::new(), Vec::new());
            for r in group {
                if r.conversations.is_empty() {
                    def.push(1);
                    rep.push(0);
                }
                for (i, t) in r.conversations.iter().enumerate() {
                    let v = if field == 0 {
                        t.content.as_str()
                    } else {
                        t.role.as_str()
                    };
                    values.push(ByteArray::from(v));
                    def.push(4);
                    rep.push(if i == 0 { 0 } else { 1 });
                }
            }
            write_column(&mut rg, &values, &def, Some(&rep))?;
        }
        rg.close()?;
    }
    writer.close()?;
    Ok(out)
}

fn write_column<W: std::io::Write + Send>(
    rg: &mut parquet::file::writer::SerializedRowGroupWriter<'_, W>,
    values: &[ByteArray],
    def: &[i16],
    rep: Option<&[i16]>,
) -> Result<(), parquet::errors::ParquetError> {
    let mut col = rg.next_column()?.ok_or_else(|| {
        parquet::errors::ParquetError::General("the schema has fewer columns".into())
    })?;
    col.typed::<ByteArrayType>()
        .write_batch(values, Some(def), rep)?;
    col.close()
}

/// Reads rows from a Parquet file with the released schema; other columns are ignored.
pub fn read_rows(bytes: Vec<u8>) -> Result<Vec<Row>, String> {
    let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    for (n, record) in reader
        .get_row_iter(None)
        .map_err(|e| e.to_string())?
        .enumerate()
    {
        let record = record.map_err(|e| format!("row {n}: {e}"))?;
        let mut id = None;
        let mut conversations = Vec::new();
        for (name, field) in record.get_column_iter() {
            match (name.as_str(), field) {
                ("id", Field::Str(s)) => id = Some(s.clone()),
                ("conversations", Field::Null) => {
                    return Err(format!("row {n}: `conversations` is null"));
                }
                ("conversations", Field::ListInternal(list)) => {
                    for item in list.elements() {
                        conversations.push(turn(item).map_err(|e| format!("row {n}: {e}"))?);
                    }
                }
                _ => {}
            }
        }
        let id = id.ok_or_else(|| format!("row {n}: no string `id`"))?;
        rows.push(Row { id, conversations });
    }
    Ok(rows)
}

fn turn(item: &Field) -> Result<Turn, String> {
    let Field::Group(group) = item else {
        return Err("a conversation item is not a struct".into());
    };
    let (mut content, mut role) = (None, None);
    for (name, field) in group.get_column_iter() {
        if let Field::Str(s) = field {
            match name.as_str() {
                "content" => content = Some(s.clone()),
                "role" => role = Some(s.clone()),
                _ => {}
            }
        }
    }
    let role = match role.as_deref() {
        Some("system") => Role::System,
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        other => return Err(format!("unknown role {other:?}")),
    };
    let content = content.ok_or("a message has no string `content`")?;
    Ok(Turn::new(role, content))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip() {
        let rows = vec![
            Row {
                id: "a/b/c/1/m/s".into(),
                conversations: vec![
                    Turn::new(Role::System, "sys"),
                    Turn::new(Role::User, "Task:\nü"),
                    Turn::new(Role::Assistant, "<solution> 1 </solution>"),
                ],
            },
            Row {
                id: "empty".into(),
                conversations: vec![],
            },
            Row {
                id: "a/b/c/2/m/s".into(),
                conversations: vec![Turn::new(Role::User, "")],
            },
        ];
        let bytes = write_rows(&rows).unwrap();
        assert!(bytes.starts_with(b"PAR1"));
        assert_eq!(read_rows(bytes).unwrap(), rows);
    }
}
