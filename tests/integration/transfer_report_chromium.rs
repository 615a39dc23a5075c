//! `report.html` in a real browser: headless Chromium opens the file as the
//! receiving site would (a local file, no server, no network), the rendered
//! DOM holds the decision table with the chosen criterion marked and the
//! comparability verdict, and a screenshot of the first screen shows them:
//! the PNG is decoded here and must contain the verdict box's border colour
//! and the chosen row's background colour, on a page that is not blank.
//!
//! Without `/usr/bin/chromium` the test fails with an install hint, unless
//! `BIOTWIN_SKIP_CHROMIUM=1` opts out explicitly (as the live page's test).

use std::io::Read as _;
use std::path::Path;

use crate::transfer_report::small_v_s_study;

/// The report is a static page: no time budget needed, no scrollbars in
/// the screenshot.
fn chromium(url: &str, profile: &Path, extra: &[&str]) -> String {
    let mut flags = vec!["--hide-scrollbars"];
    flags.extend_from_slice(extra);
    crate::chromium::run(url, profile, &flags)
}

/// A decoded 8-bit RGB or RGBA PNG (the kinds Chromium writes): width,
/// height and RGB triples.
struct Image {
    width: usize,
    height: usize,
    rgb: Vec<[u8; 3]>,
}

fn decode_png(bytes: &[u8]) -> Image {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let (mut width, mut height, mut channels) = (0usize, 0usize, 0usize);
    let mut idat = Vec::new();
    let mut i = 8;
    while i + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap()) as usize;
        let kind = &bytes[i + 4..i + 8];
        let data = &bytes[i + 8..i + 8 + len];
        match kind {
            b"IHDR" => {
                width = u32::from_be_bytes(data[0..4].try_into().unwrap()) as usize;
                height = u32::from_be_bytes(data[4..8].try_into().unwrap()) as usize;
                assert_eq!(data[8], 8, "bit depth");
                channels = match data[9] {
                    2 => 3,
                    6 => 4,
                    t => panic!("PNG colour type {t} not handled"),
                };
                assert_eq!(data[12], 0, "interlaced PNG not handled");
            }
            b"IDAT" => idat.extend_from_slice(data),
            b"IEND" => break,
            _ => {}
        }
        i += 12 + len;
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .expect("PNG data inflates");
    let stride = width * channels;
    assert_eq!(raw.len(), height * (stride + 1), "PNG size");
    let mut pixels = vec![0u8; height * stride];
    for y in 0..height {
        let filter = raw[y * (stride + 1)];
        let line = &raw[y * (stride + 1) + 1..(y + 1) * (stride + 1)];
        for x in 0..stride {
            let a = if x >= channels {
                pixels[y * stride + x - channels] as i32
            } else {
                0
            };
            let b = if y > 0 {
                pixels[(y - 1) * stride + x] as i32
            } else {
                0
            };
            let c = if x >= channels && y > 0 {
                pixels[(y - 1) * stride + x - channels] as i32
            } else {
                0
            };
            let pred = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => (a + b) / 2,
                4 => {
                    let p = a + b - c;
                    let (pa, pb, pc) = ((p - a).abs(), (p - b).abs(), (p - c).abs());
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                f => panic!("PNG filter {f}"),
            };
            pixels[y * stride + x] = (line[x] as i32 + pred) as u8;
        }
    }
    let rgb = pixels
        .chunks_exact(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    Image { width, height, rgb }
}

#[test]
fn the_report_opens_in_chromium_and_shows_decision_table_and_verdict() {
    if !crate::chromium::available_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("study");
    let study = small_v_s_study(&out);
    let url = format!("file://{}", out.join("report.html").display());

    let profile = tempfile::tempdir().unwrap();
    let dom = chromium(&url, profile.path(), &["--dump-dom"]);
    assert!(
        dom.contains("id=\"criteria-table\""),
        "no decision table:\n{dom}"
    );
    assert_eq!(dom.matches("<tr class=\"chosen\">").count(), 1, "{dom}");
    assert!(dom.contains("✔ chosen"));
    assert!(dom.contains("id=\"overall-verdict\""), "no verdict:\n{dom}");
    let all_in = study.adjustment.metrics.iter().all(|m| m.adjusted_within);
    assert!(dom.contains(if all_in {
        "Comparable: all"
    } else {
        "Not comparable"
    }));
    assert!(dom.contains("id=\"assumptions-table\""));
    assert_eq!(dom.matches("<svg").count(), 2, "both figures rendered");

    // The first screen, tall enough for the verdict and the decision table.
    let png = tmp.path().join("report.png");
    let profile2 = tempfile::tempdir().unwrap();
    chromium(
        &url,
        profile2.path(),
        &[
            "--window-size=1300,2200",
            &format!("--screenshot={}", png.display()),
        ],
    );
    let img = decode_png(&std::fs::read(&png).expect("screenshot written"));
    assert_eq!((img.width, img.height), (1300, 2200));
    let count = |c: [u8; 3]| img.rgb.iter().filter(|p| **p == c).count();
    let white = count([255, 255, 255]);
    let dark = img.rgb.iter().filter(|p| p.iter().all(|v| *v < 80)).count();
    let n = img.rgb.len();
    assert!(
        white < n * 95 / 100,
        "page nearly blank: {white} of {n} white"
    );
    assert!(dark > n / 200, "hardly any text: {dark} dark pixels of {n}");
    // The verdict box: its 2 px border in the verdict's colour (CSS --ok
    // #1b7a3a, --bad #b3261e) around a box at least 600 px wide.
    let border = if all_in {
        [0x1b, 0x7a, 0x3a]
    } else {
        [0xb3, 0x26, 0x1e]
    };
    assert!(
        count(border) > 2 * 600,
        "verdict box not on the first screen ({} border pixels)",
        count(border)
    );
    // The chosen criterion's row: its background (#e6f0ff) across the
    // table's width.
    assert!(
        count([0xe6, 0xf0, 0xff]) > 500 * 10,
        "chosen row not on the first screen ({} pixels)",
        count([0xe6, 0xf0, 0xff])
    );
}
