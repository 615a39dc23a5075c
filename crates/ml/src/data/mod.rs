//! Training data: batch records of a bioprocess, read from plant-historian
//! exports into SI, with a content hash that models carry for traceability.
//!
//! A dataset is a directory (format in `docs/data-format.md`):
//! * `dataset.toml`, the [manifest]: batches with metadata (id, equipment and
//!   scale, recipe, material lots, start/end), scalar parameters, end-of-batch
//!   CQAs, and the files holding each batch's time series;
//! * a [tag map](tag_map) (`tags.toml`): historian tag → variable, unit,
//!   online/offline;
//! * the time-series files: [long](long_format) historian exports
//!   (`timestamp,tag,value[,quality][,result_timestamp]`) or [wide](wide_format)
//!   ones (a time column, then one column per tag), each as CSV (optionally
//!   gzip-compressed) or as [Parquet](parquet_source) with the same columns.
//!
//! Parquet is read with the `parquet` crate's record API, without Arrow (the
//! crate is built with default features off). Every export, whatever its
//! encoding, becomes the same text records (`csv_source::open_export`), so
//! one set of checks applies and a Parquet file reads exactly like the CSV
//! it was made from.

pub mod batch;
pub mod content_hash;
pub mod csv_source;
pub mod dataset;
pub mod indpensim;
pub mod indpensim_historian;
pub mod long_format;
pub mod manifest;
pub mod parquet_source;
pub mod quiet_panic;
pub mod raw;
pub mod tag_map;
pub mod timestamp;
pub mod trajectory_parquet;
pub mod wide_format;
pub mod writer;

pub use batch::{BatchRecord, LabSample, TimeSeries};
pub use dataset::Dataset;
pub use manifest::{BatchMeta, FileFormat, Manifest};
pub use tag_map::{SignalKind, TagMap};
pub use writer::write_dataset;
