//! The assertions: on each reply of a testee (`expect` of a step) and on what the server
//! received (`server_expect` of a case).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::{json, Value};

use super::case::Case;
use super::unhex;
use crate::mock::{ConnectionEnd, MockServer, MockServerConfig, ReceivedRecord};
use crate::records;

pub(super) fn check_server(
    server: &MockServer,
    config: &MockServerConfig,
    case: &Case,
    table: &str,
) -> Result<(), String> {
    let expect = &case.server_expect;
    if expect.is_null() {
        return Ok(());
    }
    let err = |m: String| Err(format!("server: {m}"));
    let connections = server.connections();
    if let Some(n) = expect["connections"].as_u64() {
        if connections.len() as u64 != n {
            return err(format!("expected {n} connections, saw {}", connections.len()));
        }
    }
    if let Some(ends) = expect["ends"].as_array() {
        let got: Vec<String> = connections.iter().map(|c| end_name(&c.end)).collect();
        let want: Vec<String> = ends.iter().map(|e| e.as_str().unwrap_or_default().to_owned()).collect();
        if got != want {
            return err(format!("connection ends {got:?}, expected {want:?}"));
        }
    }
    let tokens = server.token_requests();
    if let Some(n) = expect["token_requests"].as_u64() {
        if tokens.len() as u64 != n {
            return err(format!("expected {n} token requests, saw {}", tokens.len()));
        }
    }
    if expect["oauth_request_shape"].as_bool() == Some(true) {
        let first = tokens.first().ok_or("no token request")?;
        check_oauth_shape(first, config, table).map_err(|e| format!("server: token request: {e}"))?;
    }
    match expect["bearer"].as_str() {
        None => {}
        Some(kind) => {
            let issued: HashSet<String> = tokens.iter().filter_map(|t| t.issued_token.clone()).collect();
            for c in &connections {
                let auth = c.authorization.clone().unwrap_or_default();
                let token = auth.strip_prefix("Bearer ").unwrap_or_default();
                let ok = match kind {
                    "issued" => issued.contains(token),
                    "static" => config.static_tokens.iter().any(|t| t == token),
                    _ => false,
                };
                if !ok {
                    return err(format!(
                        "connection {} did not carry a {kind} bearer token (authorization {})",
                        c.index,
                        if auth.is_empty() { "missing" } else { "present but wrong" }
                    ));
                }
                if c.table_header.as_deref() != Some(table) {
                    return err(format!("connection {} table header {:?}", c.index, c.table_header));
                }
            }
        }
    }
    if let Some(n) = expect["distinct_tokens"].as_u64() {
        let distinct: HashSet<_> = connections.iter().filter_map(|c| c.authorization.clone()).collect();
        if distinct.len() as u64 != n {
            return err(format!("expected {n} distinct tokens across connections, saw {}", distinct.len()));
        }
    }
    if let Some(n) = expect["connections_min"].as_u64() {
        if (connections.len() as u64) < n {
            return err(format!("expected at least {n} connections, saw {}", connections.len()));
        }
    }
    let tunnels = server.proxy_tunnels();
    if let Some(n) = expect["proxy_tunnels"].as_u64() {
        if tunnels != n {
            return err(format!("the CONNECT proxy opened {tunnels} tunnels, expected {n}"));
        }
    }
    if let Some(n) = expect["proxy_tunnels_min"].as_u64() {
        if tunnels < n {
            return err(format!("the CONNECT proxy opened {tunnels} tunnels, expected at least {n}"));
        }
    }
    if let Some(app) = expect["user_agent_app"].as_str() {
        for c in &connections {
            let ua = c.user_agent.clone().unwrap_or_default();
            check_user_agent(&ua, app).map_err(|e| format!("server: connection {}: {e}", c.index))?;
        }
    }
    let received = server.records(table);
    if let Some(batches) = expect["batches"].as_array() {
        let got: Vec<u64> =
            received.iter().filter(|r| r.index_in_batch == 0).map(|r| u64::from(r.batch_len)).collect();
        let want: Vec<u64> = batches.iter().filter_map(Value::as_u64).collect();
        if got != want {
            return err(format!("call sizes {got:?}, expected {want:?}"));
        }
    }
    let spec = &expect["records"];
    if spec.is_object() {
        check_records(case, spec, &received).map_err(|e| format!("server: {e}"))?;
    }
    // `arrow_compression`: the body compression every stored Arrow batch declared.
    if let Some(want) = expect["arrow_compression"].as_str() {
        let got = server.arrow_compressions(table);
        if got.is_empty() || got.iter().any(|c| *c != want) {
            return err(format!("Arrow batch bodies were compressed {got:?}, expected all {want}"));
        }
    }
    // `arrow_rows`: the rows of the Arrow batches stored, with the same checks as `records`.
    let spec = &expect["arrow_rows"];
    if spec.is_object() {
        check_arrow_rows(spec, &server.arrow_batches_by_connection(table))
            .map_err(|e| format!("server: arrow rows: {e}"))?;
    }
    // `rows`: what arrived, decoded by the declared table's message, in arrival order.
    if let Some(want) = expect["rows"].as_array() {
        let payloads: Vec<&[u8]> = received.iter().map(|r| r.payload.as_ref()).collect();
        let got = super::tables::decode_rows(table, &payloads).map_err(|e| format!("server: {e}"))?;
        if got != *want {
            return err(format!("rows {}, expected {}", Value::Array(got), Value::Array(want.clone())));
        }
    }
    Ok(())
}

fn end_name(end: &ConnectionEnd) -> String {
    match end {
        ConnectionEnd::Open => "OPEN".into(),
        ConnectionEnd::ClientHalfClosed => "CLIENT_HALF_CLOSED".into(),
        ConnectionEnd::ClientGone => "CLIENT_GONE".into(),
        ConnectionEnd::ServerStatus(code, _) => format!("SERVER_STATUS_{code}"),
    }
}

fn check_oauth_shape(
    request: &crate::mock::TokenRequestLog,
    config: &MockServerConfig,
    table: &str,
) -> Result<(), String> {
    if request.basic_client_id.as_deref() != Some(config.client_id.as_str()) || !request.basic_secret_matched
    {
        return Err("HTTP Basic credentials missing or wrong".into());
    }
    let form: HashMap<&str, &str> = request.form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let want = [
        ("grant_type", "client_credentials".to_owned()),
        ("scope", "all-apis".to_owned()),
        // The workspace id is the first DNS label of the endpoint host: "127" for 127.0.0.1.
        ("resource", "api://databricks/workspaces/127/zerobusDirectWriteApi".to_owned()),
    ];
    for (k, v) in want {
        if form.get(k) != Some(&v.as_str()) {
            return Err(format!("form field {k} is {:?}, expected {v:?}", form.get(k)));
        }
    }
    let (catalog, rest) = table.split_once('.').ok_or("table")?;
    let schema = rest.split('.').next().unwrap_or_default();
    let details = request.authorization_details.clone().ok_or("no authorization_details")?;
    let expected = json!([
        {"type": "unity_catalog_privileges", "privileges": ["USE CATALOG"], "object_type": "CATALOG",
         "object_full_path": catalog},
        {"type": "unity_catalog_privileges", "privileges": ["USE SCHEMA"], "object_type": "SCHEMA",
         "object_full_path": format!("{catalog}.{schema}")},
        {"type": "unity_catalog_privileges", "privileges": ["SELECT", "MODIFY"], "object_type": "TABLE",
         "object_full_path": table, "operations": ["zerobuswrite"]},
    ]);
    if details != expected {
        return Err(format!("authorization_details {details}, expected {expected}"));
    }
    Ok(())
}

/// Identifies a received record as (seed, seq) and checks its bytes are the generated ones.
fn identify(record_type: &str, payload: &[u8]) -> Result<(u64, u64), String> {
    let (seed, seq, regenerated) = if record_type == "proto" {
        let (seed, seq) = proto_ids(payload).ok_or("a proto record that is not a ConformanceRecord")?;
        (seed, seq, records::proto_record(seed, seq, payload.len()))
    } else {
        let v: Value =
            serde_json::from_slice(payload).map_err(|e| format!("a record that is not JSON: {e}"))?;
        let (Some(seed), Some(seq)) = (v["seed"].as_u64(), v["seq"].as_u64()) else {
            return Err("a JSON record without seed/seq".into());
        };
        (seed, seq, records::json_record(seed, seq, payload.len()).into_bytes())
    };
    if regenerated != payload {
        return Err(format!("record (seed {seed}, seq {seq}) arrived with different bytes"));
    }
    Ok((seed, seq))
}

fn proto_ids(payload: &[u8]) -> Option<(u64, u64)> {
    let mut buf = payload;
    let mut ids = (None, None);
    while !buf.is_empty() {
        let key = prost::encoding::decode_varint(&mut buf).ok()?;
        match key {
            0x08 => ids.0 = Some(prost::encoding::decode_varint(&mut buf).ok()?),
            0x10 => ids.1 = Some(prost::encoding::decode_varint(&mut buf).ok()?),
            0x1a => {
                let len = prost::encoding::decode_varint(&mut buf).ok()? as usize;
                buf = buf.get(len..)?;
            }
            _ => return None,
        }
    }
    Some((ids.0?, ids.1?))
}

fn ranges(spec: &Value) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for r in spec.as_array().into_iter().flatten() {
        let (seed, start, count) =
            (r[0].as_u64().unwrap_or(1), r[1].as_u64().unwrap_or(0), r[2].as_u64().unwrap_or(0));
        out.extend((start..start + count).map(|i| (seed, i)));
    }
    out
}

fn check_records(case: &Case, spec: &Value, received: &[ReceivedRecord]) -> Result<(), String> {
    let mut got = Vec::with_capacity(received.len());
    for r in received {
        got.push((r.connection, identify(&case.record_type, &r.payload)?));
    }
    check_ids(spec, &got)
}

/// The rows of Arrow batches the server stored, by connection, checked as records are.
fn check_arrow_rows(spec: &Value, batches: &[(u32, arrow_array::RecordBatch)]) -> Result<(), String> {
    let mut got = Vec::new();
    for (connection, batch) in batches {
        got.extend(super::arrow::row_ids(batch)?.into_iter().map(|id| (*connection, id)));
    }
    check_ids(spec, &got)
}

/// `count`, `exactly`, `per_seed` and `at_least_once` over (connection, (seed, seq)) in arrival
/// order.
fn check_ids(spec: &Value, got: &[(u32, (u64, u64))]) -> Result<(), String> {
    if let Some(n) = spec["count"].as_u64() {
        if got.len() as u64 != n {
            return Err(format!("expected {n} records, received {}", got.len()));
        }
    }
    if !spec["exactly"].is_null() {
        let want = ranges(&spec["exactly"]);
        let ids: Vec<(u64, u64)> = got.iter().map(|g| g.1).collect();
        if ids != want {
            let first_diff =
                ids.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(ids.len().min(want.len()));
            return Err(format!(
                "expected exactly {} records in order, received {} (first difference at position {first_diff})",
                want.len(),
                ids.len()
            ));
        }
    }
    if !spec["per_seed"].is_null() {
        check_per_seed(&ranges(&spec["per_seed"]), got)?;
    }
    if !spec["at_least_once"].is_null() {
        let want = ranges(&spec["at_least_once"]);
        let want_set: HashSet<(u64, u64)> = want.iter().copied().collect();
        let mut seen = HashSet::new();
        let mut first_seen = Vec::new();
        let mut last_in_connection: HashMap<u32, (u64, u64)> = HashMap::new();
        for (conn, id) in got {
            if !want_set.contains(id) {
                return Err(format!("unexpected record {id:?}"));
            }
            if let Some(prev) = last_in_connection.insert(*conn, *id) {
                if prev >= *id {
                    return Err(format!("connection {conn} received {id:?} after {prev:?}: order not kept"));
                }
            }
            if seen.insert(*id) {
                first_seen.push(*id);
            }
        }
        if let Some(missing) = want.iter().find(|id| !seen.contains(id)) {
            return Err(format!("record {missing:?} never arrived ({} of {} did)", seen.len(), want.len()));
        }
        if first_seen != want {
            return Err("records first arrived out of order".into());
        }
    }
    Ok(())
}

/// `<sdk-name>/<major.minor.patch> <app>` (PROTOCOL.md §3), where the SDK name is
/// `zerobus-sdk-<language>`; the transport may append its own product token after it.
fn check_user_agent(ua: &str, app: &str) -> Result<(), String> {
    let bad = || Err(format!("user-agent {ua:?} is not `zerobus-sdk-<language>/<version> {app}`"));
    let Some(rest) = ua.strip_prefix("zerobus-sdk-") else { return bad() };
    let Some((lang, rest)) = rest.split_once('/') else { return bad() };
    if lang.is_empty() || !lang.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
        return bad();
    }
    let (version, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let parts: Vec<&str> = version.split('.').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit())) {
        return bad();
    }
    if rest != app && !rest.starts_with(&format!("{app} ")) {
        return bad();
    }
    Ok(())
}

/// Several producers on one stream: every record of each seed arrived at least once, each seed's
/// records first arrived in their order, and no connection carried a seed's records out of order.
fn check_per_seed(want: &[(u64, u64)], got: &[(u32, (u64, u64))]) -> Result<(), String> {
    let want_set: HashSet<(u64, u64)> = want.iter().copied().collect();
    let mut seen = HashSet::new();
    // Each seed's first seq is where its first arrivals must start.
    let mut next_first: HashMap<u64, u64> = HashMap::new();
    for (seed, seq) in want {
        let first = next_first.entry(*seed).or_insert(*seq);
        *first = (*first).min(*seq);
    }
    let mut last: HashMap<(u32, u64), u64> = HashMap::new();
    for (conn, (seed, seq)) in got {
        if !want_set.contains(&(*seed, *seq)) {
            return Err(format!("unexpected record {:?}", (seed, seq)));
        }
        if let Some(prev) = last.insert((*conn, *seed), *seq) {
            if prev >= *seq {
                return Err(format!("connection {conn} received seed {seed} seq {seq} after seq {prev}: a producer's order was not kept"));
            }
        }
        if seen.insert((*seed, *seq)) {
            let expected = next_first.get_mut(seed).expect("every wanted seed has a first seq");
            if *seq != *expected {
                return Err(format!("seed {seed}: seq {seq} first arrived where seq {expected} was due"));
            }
            *expected += 1;
        }
    }
    if let Some(missing) = want.iter().find(|id| !seen.contains(id)) {
        return Err(format!("record {missing:?} never arrived ({} of {} did)", seen.len(), want.len()));
    }
    Ok(())
}

/// Offsets from concurrent producers: each producer's offsets increase, and together they are
/// exactly `0..n`.
fn check_concurrent_offsets(reply: &Value, n: u64) -> Result<(), String> {
    let mut all = Vec::new();
    for (p, list) in reply["offsets"].as_array().into_iter().flatten().enumerate() {
        let offsets: Vec<i64> = list.as_array().into_iter().flatten().filter_map(Value::as_i64).collect();
        if offsets.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!("producer {p} got offsets out of order: {offsets:?}"));
        }
        all.extend(offsets);
    }
    all.sort_unstable();
    if all != (0..n as i64).collect::<Vec<_>>() {
        return Err(format!("offsets of all producers are not exactly 0..{n} ({} offsets)", all.len()));
    }
    Ok(())
}

pub(super) fn check_reply(case: &Case, step: &Value, reply: &Value, elapsed: Duration) -> Result<(), String> {
    let expect = &step["expect"];
    let ok = reply["ok"].as_bool() == Some(true);
    if let Some(code) = expect["error"].as_str() {
        if ok {
            return Err(format!("expected error {code}, got success {reply}"));
        }
        let error = &reply["error"];
        if error["code"] != json!(code) {
            return Err(format!("expected error {code}, got {error}"));
        }
        if let Some(r) = expect["retryable"].as_bool() {
            if error["retryable"].as_bool() != Some(r) {
                return Err(format!("expected retryable={r}, got {error}"));
            }
        }
        match expect.get("grpc_status") {
            // `"grpc_status": null`: the error must not claim a status the server never sent.
            Some(Value::Null) if !error["grpc_status"].is_null() => {
                return Err(format!("expected no grpc_status (nothing answered), got {error}"));
            }
            Some(v) if v.is_i64() && error["grpc_status"].as_i64() != v.as_i64() => {
                return Err(format!("expected grpc_status {v}, got {error}"));
            }
            _ => {}
        }
        let message = error["message"].as_str().unwrap_or_default();
        for s in expect["message_includes"].as_array().into_iter().flatten() {
            let s = s.as_str().unwrap_or_default();
            if !message.contains(s) {
                return Err(format!("error message {message:?} does not mention {s:?}"));
            }
        }
        for s in expect["message_excludes"].as_array().into_iter().flatten() {
            if message.contains(s.as_str().unwrap_or_default()) {
                return Err("error message leaks a value it must not show".into());
            }
        }
    } else if !ok {
        return Err(format!("unexpected error {}", reply["error"]));
    }
    if let Some(ms) = expect["max_duration_ms"].as_u64() {
        if elapsed > Duration::from_millis(ms) {
            return Err(format!("returned after {} ms, expected it within {ms} ms", elapsed.as_millis()));
        }
    }
    if let Some(n) = expect["concurrent_offsets"].as_u64() {
        check_concurrent_offsets(reply, n)?;
    }
    if let Some(late) = expect["late_callbacks"].as_u64() {
        if reply["late"].as_u64() != Some(late) {
            return Err(format!("{} callbacks ran after close() returned, expected {late}", reply["late"]));
        }
    }
    if let Some(ms) = expect["min_duration_ms"].as_u64() {
        if elapsed < Duration::from_millis(ms) {
            return Err(format!(
                "returned after {} ms, expected it to wait at least {ms} ms",
                elapsed.as_millis()
            ));
        }
    }
    if let Some(table) = expect["schema_of"].as_str() {
        super::tables::check_schema_reply(table, reply)?;
    }
    if !expect["offsets"].is_null() && reply["offsets"] != expect["offsets"] {
        return Err(format!("offsets {}, expected {}", reply["offsets"], expect["offsets"]));
    }
    if let Some(closed) = expect["closed"].as_bool() {
        if reply["closed"].as_bool() != Some(closed) {
            return Err(format!("closed is {}, expected {closed}", reply["closed"]));
        }
    }
    if let Some(count) = expect["count"].as_u64() {
        if reply["count"].as_u64() != Some(count) {
            return Err(format!("count {}, expected {count}", reply["count"]));
        }
    }
    if let Some(want) = expect["metrics"].as_object() {
        let got = &reply["metrics"];
        for (key, value) in want {
            if let Some(base) = key.strip_suffix("_min") {
                if got[base].as_i64().unwrap_or(i64::MIN) < value.as_i64().unwrap_or(0) {
                    return Err(format!("metric {base} is {}, expected at least {value}", got[base]));
                }
            } else if &got[key] != value {
                return Err(format!("metric {key} is {}, expected {value}", got[key]));
            }
        }
    }
    if expect["callbacks"].is_object() {
        for kind in ["acks", "errors"] {
            let range = &expect["callbacks"][kind];
            let want: Vec<i64> = match (range[0].as_i64(), range[1].as_i64()) {
                (Some(a), Some(b)) => (a..b).collect(),
                _ => Vec::new(),
            };
            let got: Vec<i64> =
                reply[kind].as_array().into_iter().flatten().filter_map(Value::as_i64).collect();
            if got != want {
                return Err(format!("{kind} callbacks {got:?}, expected once per offset in {range}"));
            }
        }
    }
    if !expect["unacked_rows"].is_null() {
        let got = super::arrow::ipc_row_ids(reply["ipc_hex"].as_str().ok_or("the reply has no ipc_hex")?)?;
        let want = ranges(&expect["unacked_rows"]);
        if got != want {
            return Err(format!("unacked rows {got:?}, expected {want:?}"));
        }
    }
    if !expect["offset"].is_null() && reply["offset"] != expect["offset"] {
        return Err(format!("offset {}, expected {}", reply["offset"], expect["offset"]));
    }
    if let Some(batches) = expect["unacked_batches"].as_array() {
        let got = reply["batches"].as_array().cloned().unwrap_or_default();
        if got.len() != batches.len() {
            return Err(format!("{} unacked batches, expected {}", got.len(), batches.len()));
        }
        for (i, (g, w)) in got.iter().zip(batches).enumerate() {
            let want = ranges(&json!([w]));
            let mut ids = Vec::new();
            for rec in g.as_array().into_iter().flatten() {
                let rec = rec.as_str().unwrap_or_default();
                let bytes = if case.record_type == "proto" { unhex(rec)? } else { rec.as_bytes().to_vec() };
                ids.push(identify(&case.record_type, &bytes)?);
            }
            if ids != want {
                return Err(format!("unacked batch {i} holds {ids:?}, expected {want:?}"));
            }
        }
    }
    Ok(())
}
