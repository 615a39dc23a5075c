//! The batch view's trajectory chart over the API
//! (`GET /api/batches/{id}/trajectory.svg`) and the batch's recipe and data
//! freshness in `GET /api/batches/{id}`: the tenant's own batch is drawn
//! from its own recorded tags and recipe; another tenant's batch, also one
//! with the same id, shows nothing of it.

use std::sync::Arc;

use axum::http::{StatusCode, header};
use biotwin_live::Store;
use biotwin_live::batch_context::{BatchContext, RecipeMarker, TagRecord};
use biotwin_live::memory_store::MemoryStore;
use serde_json::json;

use super::live_web::{TOKEN_A, app, bearer, call, fill};

fn tag(tag: &str, variable: &str, offset: f64, lab: bool) -> TagRecord {
    TagRecord {
        tag: tag.into(),
        variable: variable.into(),
        unit: if offset != 0.0 { "degC" } else { "1" }.into(),
        to_si_factor: 1.0,
        to_si_offset: offset,
        lab,
    }
}

fn started(s: &dyn Store, tenant: &str, batch: &str, marker: &str, tags: Vec<TagRecord>) {
    let ctx = BatchContext {
        markers: vec![RecipeMarker {
            time_s: 24.0 * 3600.0,
            kind: "bolus_feed".into(),
            label: marker.into(),
        }],
        recipe_known: true,
        tags,
    };
    s.append_audit(
        "biotwin-live",
        Some(tenant),
        "batch.started",
        json!({"batch": batch, "plan": ctx}),
    )
    .unwrap();
}

#[tokio::test]
async fn the_trajectory_shows_the_tenants_own_tags_and_recipe_only() {
    let store = Arc::new(MemoryStore::new());
    fill(store.as_ref());
    started(
        store.as_ref(),
        "sponsor-a",
        "A-001",
        "bolus feed_a 45.0 mL",
        vec![
            tag("TI-101", "temperature", 273.15, false),
            tag("PH-101", "ph", 0.0, false),
        ],
    );
    for (batch, marker) in [("B-001", "SECRET-B-FEED"), ("SHARED-1", "SECRET-B-SHARED")] {
        started(
            store.as_ref(),
            "sponsor-b",
            batch,
            marker,
            vec![tag("SECRET-B", "ph", 0.0, false)],
        );
    }
    let app = app(store.clone());
    let a = bearer(TOKEN_A);

    let r = call(
        &app,
        "GET",
        "/api/batches/A-001/trajectory.svg",
        Some(&a),
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("image/svg+xml")
    );
    let svg = r.text();
    assert!(svg.starts_with("<svg"), "{svg}");
    // Its tags in display units with human names, its marker, the axes.
    assert!(
        svg.contains("Temperature (°C)") && svg.contains(">pH<"),
        "{svg}"
    );
    assert!(svg.contains("tag TI-101 (online, 1)"), "{svg}");
    assert!(svg.contains("bolus feed_a 45.0 mL"));
    assert!(svg.contains("calendar time (UTC)") && svg.contains("day"));
    // The fixture's batch starts at 1.7e9 s = 2023-11-14 22:13:20 UTC.
    assert!(svg.contains("started 2023-11-14 22:13 UTC"), "{svg}");
    assert!(!svg.contains("SECRET"), "{svg}");

    // The batch view's JSON: the recipe and when data last arrived.
    let d = call(&app, "GET", "/api/batches/A-001", Some(&a), "")
        .await
        .json();
    assert_eq!(d["last_data_unix_s"], json!(1.7e9));
    assert_eq!(
        d["recipe_markers"][0]["label"],
        json!("bolus feed_a 45.0 mL")
    );
    assert_eq!(d["recipe_markers"].as_array().unwrap().len(), 1);

    // A's SHARED-1 has no recorded recipe; B's, of the same id, is not A's.
    let shared = call(
        &app,
        "GET",
        "/api/batches/SHARED-1/trajectory.svg",
        Some(&a),
        "",
    )
    .await;
    assert_eq!(shared.status, StatusCode::OK);
    let shared = shared.text();
    assert!(
        shared.contains("recipe not recorded for this batch"),
        "{shared}"
    );
    assert!(!shared.contains("SECRET"), "{shared}");
    let d = call(&app, "GET", "/api/batches/SHARED-1", Some(&a), "")
        .await
        .json();
    assert_eq!(d["recipe_markers"], json!(null));
    assert_eq!(d["last_data_unix_s"], json!(null));

    // Another tenant's batch: exactly the answer of one that does not exist.
    let theirs = call(
        &app,
        "GET",
        "/api/batches/B-001/trajectory.svg",
        Some(&a),
        "",
    )
    .await;
    let none = call(
        &app,
        "GET",
        "/api/batches/NO-SUCH/trajectory.svg",
        Some(&a),
        "",
    )
    .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    assert_eq!(
        (theirs.status, &theirs.headers, &theirs.body),
        (none.status, &none.headers, &none.body)
    );
    assert!(!theirs.text().contains("SECRET"));
    // No token: 401.
    let anon = call(&app, "GET", "/api/batches/A-001/trajectory.svg", None, "").await;
    assert_eq!(anon.status, StatusCode::UNAUTHORIZED);
}
