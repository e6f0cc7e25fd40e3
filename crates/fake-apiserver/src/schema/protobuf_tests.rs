//! Protobuf bodies built by hand, field by field, as kubectl's encoder writes them.

use serde_json::json;

use super::{MAGIC, decode, go_duration};

fn varint(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn bytes_field(n: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint(n << 3 | 2, &mut out);
    varint(payload.len() as u64, &mut out);
    out.extend_from_slice(payload);
    out
}

fn varint_field(n: u64, v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    varint(n << 3, &mut out);
    varint(v, &mut out);
    out
}

fn string_field(n: u64, s: &str) -> Vec<u8> {
    bytes_field(n, s.as_bytes())
}

fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let type_meta = [string_field(1, api_version), string_field(2, kind)].concat();
    let mut out = MAGIC.to_vec();
    out.extend(bytes_field(1, &type_meta));
    out.extend(bytes_field(2, raw));
    out.extend(string_field(4, "application/vnd.kubernetes.protobuf"));
    out
}

/// ObjectMeta as gogo writes it: every plain string and the generation, zero or not, and an
/// empty creationTimestamp.
fn metadata(name: &str, namespace: &str) -> Vec<u8> {
    [
        string_field(1, name),
        string_field(2, ""),
        string_field(3, namespace),
        string_field(4, ""),
        string_field(5, ""),
        string_field(6, ""),
        varint_field(7, 0),
        bytes_field(8, &[]),
    ]
    .concat()
}

fn entry(k: &str, v: &[u8]) -> Vec<u8> {
    [string_field(1, k), bytes_field(2, v)].concat()
}

#[test]
fn a_configmap_with_data_and_binary_data() {
    let raw = [
        bytes_field(1, &metadata("settings", "default")),
        bytes_field(2, &entry("mode", b"fast")),
        bytes_field(2, &entry("level", b"3")),
        bytes_field(3, &entry("blob", &[0, 1, 2, 250])),
    ]
    .concat();
    let object = decode(&envelope("v1", "ConfigMap", &raw)).unwrap();
    assert_eq!(
        object,
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": "default", "creationTimestamp": null},
            "data": {"mode": "fast", "level": "3"},
            "binaryData": {"blob": "AAEC+g=="},
        })
    );
}

#[test]
fn a_deployment_keeps_a_zero_replica_count_and_drops_zero_defaults() {
    let port = [varint_field(3, 80), string_field(4, "TCP")].concat();
    let container = [
        string_field(1, "web"),
        string_field(2, "nginx"),
        bytes_field(6, &port),
        string_field(14, ""),
        varint_field(16, 0),
    ]
    .concat();
    let pod_spec = bytes_field(2, &container);
    let template = [bytes_field(1, &metadata("", "")), bytes_field(2, &pod_spec)].concat();
    let max_surge = [varint_field(1, 1), string_field(3, "25%")].concat();
    let rolling = bytes_field(2, &max_surge);
    let strategy = [string_field(1, "RollingUpdate"), bytes_field(2, &rolling)].concat();
    let selector = bytes_field(1, &entry("app", b"web"));
    let spec = [
        varint_field(1, 0),
        bytes_field(2, &selector),
        bytes_field(3, &template),
        bytes_field(4, &strategy),
        varint_field(5, 0),
    ]
    .concat();
    let raw = [
        bytes_field(1, &metadata("web", "")),
        bytes_field(2, &spec),
        bytes_field(3, &[]),
    ]
    .concat();
    let object = decode(&envelope("apps/v1", "Deployment", &raw)).unwrap();
    assert_eq!(object["spec"]["replicas"], 0, "a pointer: zero is a value");
    assert!(
        object["spec"].get("minReadySeconds").is_none(),
        "omitempty: zero is absent"
    );
    assert_eq!(
        object["spec"]["selector"],
        json!({"matchLabels": {"app": "web"}})
    );
    assert_eq!(
        object["spec"]["strategy"]["rollingUpdate"]["maxSurge"],
        "25%"
    );
    let c = &object["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        c,
        &json!({"name": "web", "image": "nginx", "ports": [{"containerPort": 80, "protocol": "TCP"}]})
    );
    assert_eq!(object["status"], json!({}));
}

#[test]
fn negative_numbers_times_and_durations() {
    // A negative int64 (deletionGracePeriodSeconds) arrives as ten bytes.
    let meta = [
        string_field(1, "p"),
        varint_field(10, (-5i64) as u64),
        bytes_field(8, &varint_field(1, 1_700_000_000)),
    ]
    .concat();
    let raw = bytes_field(1, &meta);
    let object = decode(&envelope("v1", "Pod", &raw)).unwrap();
    assert_eq!(object["metadata"]["deletionGracePeriodSeconds"], -5);
    assert_eq!(
        object["metadata"]["creationTimestamp"],
        "2023-11-14T22:13:20Z"
    );
    assert_eq!(go_duration(3_723_500_000_000), "1h2m3.5s");
    assert_eq!(go_duration(0), "0s");
}

#[test]
fn bad_bodies_are_errors_never_panics() {
    let good = envelope("v1", "ConfigMap", &bytes_field(1, &metadata("c", "")));
    assert!(decode(&good).is_ok());
    assert!(decode(b"{}").unwrap_err().contains("expected prefix"));
    assert!(
        decode(&envelope("v1", "Widget", &[]))
            .unwrap_err()
            .contains("no kind \"Widget\"")
    );
    for cut in 0..good.len() {
        let _ = decode(&good[..cut]);
    }
    let mut long_varint = MAGIC.to_vec();
    long_varint.extend([0xff; 12]);
    assert!(decode(&long_varint).is_err());
    let wrong_wire = envelope("v1", "ConfigMap", &varint_field(1, 3));
    assert!(decode(&wrong_wire).unwrap_err().contains("wrong wire type"));
    let mut too_long = MAGIC.to_vec();
    too_long.extend([0x12, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert!(decode(&too_long).is_err());
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for len in 0..400 {
        let mut body = MAGIC.to_vec();
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            body.push(seed as u8);
        }
        let _ = decode(&body);
        let _ = decode(&envelope("apps/v1", "Deployment", &body[4..]));
    }
}
