//! Trajectories as Apache Parquet: one REQUIRED DOUBLE column per output
//! column (names carry the units, as in the CSV), one row group,
//! uncompressed. Written with the `parquet` crate's low-level writer, so no
//! Arrow dependency is needed; the file is assembled in memory and then
//! written atomically.

use std::sync::Arc;

use parquet::data_type::DoubleType;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

use crate::error::Error;
use biotwin_core::simulation::Outcome;

/// The Parquet bytes of a trajectory table.
pub fn trajectory_parquet(outcome: &Outcome) -> Result<Vec<u8>, Error> {
    let err = |e: parquet::errors::ParquetError| Error::io("<parquet>", e);
    let fields: String = outcome
        .columns
        .iter()
        .map(|c| format!("REQUIRED DOUBLE {c}; "))
        .collect();
    let schema =
        Arc::new(parse_message_type(&format!("message trajectory {{ {fields}}}")).map_err(err)?);
    let props = Arc::new(
        WriterProperties::builder()
            .set_created_by(format!("biotwin {}", env!("CARGO_PKG_VERSION")))
            .build(),
    );
    let mut writer = SerializedFileWriter::new(Vec::new(), schema, props).map_err(err)?;
    let mut group = writer.next_row_group().map_err(err)?;
    let n_cols = outcome.columns.len();
    let mut j = 0;
    while let Some(mut col) = group.next_column().map_err(err)? {
        let values: Vec<f64> = outcome.rows().map(|r| r[j]).collect();
        col.typed::<DoubleType>()
            .write_batch(&values, None, None)
            .map_err(err)?;
        col.close().map_err(err)?;
        j += 1;
    }
    debug_assert_eq!(j, n_cols);
    group.close().map_err(err)?;
    writer.into_inner().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;

    #[test]
    fn round_trips_through_a_parquet_reader() {
        let outcome = Outcome {
            columns: vec!["time_h".into(), "titer_g_per_l".into()],
            data: vec![0.0, 0.0, 1.0, 0.25, 2.0, f64::NAN],
            quality: vec![],
            stats: Default::default(),
        };
        let bytes = trajectory_parquet(&outcome).unwrap();
        let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).unwrap();
        assert_eq!(reader.metadata().file_metadata().num_rows(), 3);
        let rows: Vec<Vec<f64>> = reader
            .get_row_iter(None)
            .unwrap()
            .map(|r| {
                r.unwrap()
                    .get_column_iter()
                    .map(|(_, f)| match f {
                        Field::Double(x) => *x,
                        other => panic!("{other:?}"),
                    })
                    .collect()
            })
            .collect();
        assert_eq!(rows[1], vec![1.0, 0.25]);
        assert_eq!(rows[0][0], 0.0);
        assert!(rows[2][1].is_nan());
    }
}
