//! The Kurento protocol against a real WebSocket: methods, sessions, error codes, events.

mod common;

use std::time::Duration;

use common::{start_server, Client, TIMEOUT};
use serde_json::{json, Value};

fn code(err: &Value) -> i64 {
    err["code"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn ping_and_describe_mint_a_session() {
    let (addr, _) = start_server(&[]).await;
    let mut c = Client::connect(addr).await;
    let pong = c.ok("ping", json!({"interval": 5000})).await;
    assert_eq!(pong, json!({"value": "pong"}));
    let pong = c.ok("ping", Value::Null).await;
    assert_eq!(pong, json!({"value": "pong"}));

    let d = c
        .ok("describe", json!({"object": "manager_ServerManager"}))
        .await;
    assert_eq!(d["type"], "ServerManager");
    assert_eq!(d["qualifiedType"], "kurento.ServerManager");
    assert_eq!(d["hierarchy"], json!(["kurento.MediaObject"]));
    let session = d["sessionId"].as_str().unwrap().to_owned();

    // Later requests without sessionId run in the connection's session (injection, §3).
    c.session = None;
    let p = c
        .ok("create", json!({"type": "MediaPipeline", "properties": {}}))
        .await;
    assert_eq!(p["sessionId"], session.as_str());
    let pong = c.ok("ping", Value::Null).await;
    assert_eq!(pong, json!({"value": "pong", "sessionId": session}));
}

#[tokio::test(flavor = "multi_thread")]
async fn get_info_lists_modules_and_factories() {
    let (addr, _) = start_server(&[]).await;
    let mut c = Client::connect(addr).await;
    let info = c
        .invoke("manager_ServerManager", "getInfo", Value::Null)
        .await["value"]
        .clone();
    assert_eq!(info["__type__"], "ServerInfo");
    let modules = info["modules"].as_array().unwrap();
    let names: Vec<&str> = modules
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    for m in ["core", "elements", "filters"] {
        assert!(names.contains(&m), "module {m} missing from {names:?}");
    }
    let factories =
        |name: &str| modules.iter().find(|m| m["name"] == name).unwrap()["factories"].clone();
    // As KMS lists them.
    assert_eq!(
        factories("core"),
        json!(["HubPort", "MediaPipeline", "PassThrough"])
    );
    assert_eq!(
        factories("elements"),
        json!([
            "AlphaBlending",
            "Composite",
            "Dispatcher",
            "DispatcherOneToMany",
            "HttpPostEndpoint",
            "Mixer",
            "PlayerEndpoint",
            "RecorderEndpoint",
            "RtpEndpoint",
            "WebRtcEndpoint"
        ])
    );
    let filters = factories("filters");
    for f in ["FaceOverlayFilter", "GStreamerFilter"] {
        assert!(
            filters.as_array().unwrap().contains(&json!(f)),
            "{f} in {filters}"
        );
    }

    let kmd = c
        .invoke(
            "manager_ServerManager",
            "getKmd",
            json!({"moduleName": "core"}),
        )
        .await["value"]
        .clone();
    let kmd: Value = serde_json::from_str(kmd.as_str().unwrap()).unwrap();
    assert_eq!(kmd["name"], "core");
    let e = c
        .invoke_err(
            "manager_ServerManager",
            "getKmd",
            json!({"moduleName": "nope"}),
        )
        .await;
    assert_eq!(code(&e), 40500);

    let cpus = c
        .invoke("manager_ServerManager", "getCpuCount", Value::Null)
        .await["value"]
        .as_i64()
        .unwrap();
    assert!(cpus >= 1);
    let mem = c
        .invoke("manager_ServerManager", "getUsedMemory", Value::Null)
        .await["value"]
        .as_i64()
        .unwrap();
    assert!(mem > 1000, "RSS in KiB: {mem}");
    let cpu = c
        .invoke(
            "manager_ServerManager",
            "getUsedCpu",
            json!({"interval": 50}),
        )
        .await["value"]
        .as_f64();
    assert!(cpu.is_some_and(|v| v >= 0.0));
    let sessions = c
        .invoke("manager_ServerManager", "getSessions", Value::Null)
        .await["value"]
        .clone();
    assert!(sessions
        .as_array()
        .unwrap()
        .contains(&json!(c.session.clone().unwrap())));
}

#[tokio::test(flavor = "multi_thread")]
async fn ids_types_and_hierarchies() {
    let (addr, _) = start_server(&[]).await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    assert!(p.ends_with("_kurento.MediaPipeline"), "{p}");
    let w = c
        .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
        .await;
    assert!(
        w.starts_with(&format!("{p}/")) && w.ends_with("_kurento.WebRtcEndpoint"),
        "{w}"
    );
    let w2 = c
        .create("kurento.WebRtcEndpoint", json!({"mediaPipeline": p}))
        .await;
    let pt = c.create("PassThrough", json!({"mediaPipeline": p})).await;
    let f = c
        .create("kurento.FaceOverlayFilter", json!({"mediaPipeline": p}))
        .await;
    assert!(f.ends_with("_kurento.FaceOverlayFilter"));

    let d = c.ok("describe", json!({"object": w})).await;
    assert_eq!(d["type"], "WebRtcEndpoint");
    assert_eq!(
        d["hierarchy"],
        json!([
            "kurento.BaseRtpEndpoint",
            "kurento.SdpEndpoint",
            "kurento.SessionEndpoint",
            "kurento.Endpoint",
            "kurento.MediaElement",
            "kurento.MediaObject"
        ])
    );
    let d = c.ok("describe", json!({"object": f})).await;
    assert_eq!(
        d["hierarchy"],
        json!([
            "kurento.Filter",
            "kurento.MediaElement",
            "kurento.MediaObject"
        ])
    );
    let d = c.ok("describe", json!({"object": p})).await;
    assert_eq!(
        (d["type"].clone(), d["hierarchy"].clone()),
        (json!("MediaPipeline"), json!(["kurento.MediaObject"]))
    );

    assert_eq!(
        c.invoke(&w, "getMediaPipeline", Value::Null).await["value"],
        p.as_str()
    );
    assert_eq!(
        c.invoke(&w, "getParent", Value::Null).await["value"],
        p.as_str()
    );
    assert_eq!(
        c.invoke(&w, "getName", Value::Null).await["value"],
        w.as_str()
    );
    c.invoke(&w, "setName", json!({"name": "caller"})).await;
    assert_eq!(
        c.invoke(&w, "getName", Value::Null).await["value"],
        "caller"
    );
    let t = c.invoke(&w, "getCreationTime", Value::Null).await["value"]
        .as_i64()
        .unwrap();
    assert!(t > 1_700_000_000);
    let mut children: Vec<String> =
        serde_json::from_value(c.invoke(&p, "getChildren", Value::Null).await["value"].clone())
            .unwrap();
    children.sort();
    let mut expected = vec![w.clone(), w2, pt, f];
    expected.sort();
    assert_eq!(children, expected);
    let pipelines = c
        .invoke("manager_ServerManager", "getPipelines", Value::Null)
        .await["value"]
        .clone();
    assert!(pipelines.as_array().unwrap().contains(&json!(p)));

    let dot = c.invoke(&p, "getGstreamerDot", Value::Null).await["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(dot.starts_with("digraph"), "{}", &dot[..40.min(dot.len())]);
    let stats = c
        .invoke(&w, "getStats", json!({"mediaType": "VIDEO"}))
        .await["value"]
        .clone();
    assert!(stats.is_object());
    assert_eq!(
        c.invoke(&w, "getMediaState", Value::Null).await["value"],
        "DISCONNECTED"
    );
    assert_eq!(
        c.invoke(&w, "getConnectionState", Value::Null).await["value"],
        "DISCONNECTED"
    );
    let flowing = c
        .invoke(&w, "isMediaFlowingIn", json!({"mediaType": "VIDEO"}))
        .await["value"]
        .clone();
    assert_eq!(flowing, json!(false));
}

#[tokio::test(flavor = "multi_thread")]
async fn error_codes_and_wording() {
    let (addr, _) = start_server(&[]).await;
    let mut c = Client::connect(addr).await;

    c.send_raw("{not json").await;
    let r = c.response(&Value::Null).await;
    assert_eq!(
        (code(&r["error"]), r["error"]["message"].clone()),
        (-32700, json!("Parse error."))
    );
    c.send_raw(r#"{"jsonrpc":"1.0","method":"ping","id":1}"#)
        .await;
    assert_eq!(code(&c.response(&Value::Null).await["error"]), -32600);
    c.send_raw(r#"["jsonrpc"]"#).await;
    assert_eq!(code(&c.response(&Value::Null).await["error"]), -32600);

    assert_eq!(code(&c.err("frobnicate", json!({})).await), -32601);
    let e = c.err("create", Value::Null).await;
    assert_eq!(
        (code(&e), e["data"]["type"].clone()),
        (-32602, json!("INVALID_PARAMS"))
    );
    let e = c.err("invoke", json!({"operation": "getName"})).await;
    assert_eq!(
        (code(&e), e["message"].clone()),
        (-32000, json!("'object' parameter is required"))
    );
    let e = c.err("create", json!({"type": 7})).await;
    assert_eq!(e["message"], "'type' parameter should be a string");

    let e = c
        .err("create", json!({"type": "NoSuchThing", "properties": {}}))
        .await;
    assert_eq!(
        (code(&e), e["message"].clone()),
        (40108, json!("Factory 'NoSuchThing' not found"))
    );
    assert_eq!(e["data"]["type"], "MEDIA_OBJECT_NOT_AVAILABLE");

    let e = c
        .invoke_err("nope_kurento.MediaPipeline", "getName", Value::Null)
        .await;
    assert_eq!(code(&e), 40101);
    assert_eq!(e["data"]["type"], "MEDIA_OBJECT_NOT_FOUND");
    assert!(e["message"].as_str().unwrap().contains(" not found"));

    let p = c.create("MediaPipeline", Value::Null).await;
    let w = c
        .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
        .await;
    let e = c.invoke_err(&w, "frobnicate", json!({"a": 1})).await;
    assert_eq!(
        (code(&e), e["message"].clone()),
        (
            40008,
            json!("Method 'frobnicate' with 1 parameters not found")
        )
    );
    let e = c.invoke_err(&w, "processOffer", json!({"offer": 5})).await;
    assert_eq!(
        (code(&e), e["message"].clone()),
        (40001, json!("'offer' parameter should be a string"))
    );
    assert_eq!(e["data"]["type"], "MARSHALL_ERROR");
    let e = c.invoke_err(&w, "processOffer", Value::Null).await;
    assert_eq!(code(&e), 40001);
    let e = c.invoke_err(&w, "getTag", json!({"key": "missing"})).await;
    assert_eq!(
        (code(&e), e["data"]["type"].clone()),
        (40110, json!("MEDIA_OBJECT_TAG_KEY_NOT_FOUND"))
    );
    let e = c
        .invoke_err(&w, "getLocalSessionDescriptor", Value::Null)
        .await;
    assert_eq!(code(&e), 40202);
    let e = c
        .invoke_err(&w, "getRemoteSessionDescriptor", Value::Null)
        .await;
    assert_eq!(code(&e), 40203);
    let e = c
        .err(
            "create",
            json!({"type": "WebRtcEndpoint", "constructorParams": {"mediaPipeline": 3}}),
        )
        .await;
    assert_eq!(code(&e), 40001);
    let e = c
        .err(
            "create",
            json!({"type": "WebRtcEndpoint", "constructorParams": {}}),
        )
        .await;
    assert_eq!(code(&e), 40001);
    let e = c
        .err(
            "create",
            json!({"type": "WebRtcEndpoint", "constructorParams": {"mediaPipeline": w}}),
        )
        .await;
    assert_eq!(code(&e), 40001);
    let e = c
        .err("subscribe", json!({"object": w, "type": "CodeFound"}))
        .await;
    assert_eq!(
        (code(&e), e["message"].clone()),
        (40106, json!("Event 'CodeFound' not supported"))
    );
    let e = c.invoke_err(&w, "connect", json!({"sink": "nope"})).await;
    assert_eq!(code(&e), 40101);
    let e = c
        .invoke_err(&w, "connect", json!({"sink": w, "mediaType": "SMELL"}))
        .await;
    assert_eq!(code(&e), 40001);
    let e = c
        .invoke_err(
            &w,
            "addIceCandidate",
            json!({"candidate": {"candidate": "x", "__module__": "kurento", "__type__": "Bogus"}}),
        )
        .await;
    assert_eq!(code(&e), 40003);

    // The connection is still fine after all of that.
    assert_eq!(c.ok("ping", Value::Null).await["value"], "pong");
}

#[tokio::test(flavor = "multi_thread")]
async fn broken_sdp_is_an_sdp_error_and_harms_nobody() {
    let (addr, _) = start_server(&[]).await;
    let mut a = Client::connect(addr).await;
    let mut b = Client::connect(addr).await;
    let pb = b.create("MediaPipeline", Value::Null).await;
    let p = a.create("MediaPipeline", Value::Null).await;
    let w = a
        .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
        .await;
    let e = a
        .invoke_err(&w, "processOffer", json!({"offer": "this is not SDP"}))
        .await;
    assert!((40200..40300).contains(&code(&e)), "{e}");
    let no_codec = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 120\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\na=setup:actpass\r\na=rtpmap:120 NOPE/90000\r\n";
    // As KMS: nothing to serve is answered with the m-line rejected, not an error.
    let answer = a
        .invoke(&w, "processOffer", json!({"offer": no_codec}))
        .await;
    assert!(
        answer["value"].as_str().unwrap().contains("m=video 0 "),
        "{answer}"
    );
    // An SDP beyond the size limit (but within a message's) is refused, not a dropped
    // connection.
    let huge = "x".repeat(300 << 10);
    let fresh = a
        .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
        .await;
    let e = a
        .invoke_err(&fresh, "processOffer", json!({"offer": huge}))
        .await;
    assert_eq!(code(&e), 40001, "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("sdp_max_bytes"),
        "{e}"
    );
    // The other session's pipeline is untouched and both connections still work.
    assert_eq!(
        b.ok("describe", json!({"object": pb})).await["type"],
        "MediaPipeline"
    );
    let w2 = a
        .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
        .await;
    assert_eq!(
        a.invoke(&w2, "getMediaState", Value::Null).await["value"],
        "DISCONNECTED"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tags_and_tags_in_events() {
    let (addr, _) = start_server(&[]).await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let w = c
        .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
        .await;
    c.invoke(&w, "addTag", json!({"key": "room", "value": "r1"}))
        .await;
    c.invoke(&w, "addTag", json!({"key": "user", "value": "u1"}))
        .await;
    assert_eq!(
        c.invoke(&w, "getTag", json!({"key": "room"})).await["value"],
        "r1"
    );
    let tags = c.invoke(&w, "getTags", Value::Null).await["value"].clone();
    assert_eq!(
        tags[0],
        json!({"__module__": "kurento", "__type__": "Tag", "key": "room", "value": "r1"})
    );
    c.invoke(&w, "removeTag", json!({"key": "user"})).await;
    assert_eq!(
        c.invoke(&w, "getTags", Value::Null).await["value"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let pt = c.create("PassThrough", json!({"mediaPipeline": p})).await;
    c.subscribe(&w, "ElementConnected").await;
    c.invoke(&w, "connect", json!({"sink": pt, "mediaType": "VIDEO"}))
        .await;
    let ev = c.event(|e| e["type"] == "ElementConnected").await;
    assert_eq!(ev["data"]["tags"], json!([]));
    c.invoke(&w, "setSendTagsInEvents", json!({"sendTagsInEvents": true}))
        .await;
    assert_eq!(
        c.invoke(&w, "getSendTagsInEvents", Value::Null).await["value"],
        true
    );
    c.invoke(&w, "connect", json!({"sink": pt, "mediaType": "AUDIO"}))
        .await;
    let ev = c.event(|e| e["type"] == "ElementConnected").await;
    assert_eq!(ev["data"]["tags"][0]["key"], "room");
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_events_and_queries() {
    let (addr, _) = start_server(&[]).await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let w = c
        .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
        .await;
    let f = c
        .create("FaceOverlayFilter", json!({"mediaPipeline": p}))
        .await;
    let sub = c.subscribe(&w, "ElementConnected").await;
    // A second subscription to the same (object, event) still delivers each event once.
    let sub2 = c.subscribe(&w, "ElementConnected").await;
    assert_ne!(sub, sub2);
    c.invoke(&w, "connect", json!({"sink": f})).await;
    let mut types = vec![];
    for _ in 0..3 {
        let ev = c.event(|e| e["type"] == "ElementConnected").await;
        assert_eq!(ev["object"], w.as_str());
        let data = &ev["data"];
        assert_eq!(
            (data["sink"].clone(), data["source"].clone()),
            (json!(f), json!(w))
        );
        assert_eq!(data["sourceMediaDescription"], "default");
        assert!(data["timestampMillis"].is_string());
        types.push(data["mediaType"].as_str().unwrap().to_owned());
    }
    types.sort();
    assert_eq!(types, ["AUDIO", "DATA", "VIDEO"]);
    // A later event comes next, not a duplicate of the earlier ones.
    c.invoke(&f, "connect", json!({"sink": w, "mediaType": "VIDEO"}))
        .await;
    c.subscribe(&f, "ElementConnected").await;
    c.invoke(&f, "connect", json!({"sink": w, "mediaType": "AUDIO"}))
        .await;
    let ev = c.event(|e| e["type"] == "ElementConnected").await;
    assert_eq!(
        (ev["object"].clone(), ev["data"]["mediaType"].clone()),
        (json!(f), json!("AUDIO"))
    );
    assert!(
        c.queued_events().is_empty(),
        "duplicate events: {:?}",
        c.queued_events()
    );

    let sinks = c.invoke(&w, "getSinkConnections", json!({})).await["value"].clone();
    assert_eq!(sinks.as_array().unwrap().len(), 3);
    assert_eq!(sinks[0]["__type__"], "ElementConnectionData");
    let sources = c
        .invoke(&f, "getSourceConnections", json!({"mediaType": "VIDEO"}))
        .await["value"]
        .clone();
    assert_eq!(
        sources,
        json!([{"__module__": "kurento", "__type__": "ElementConnectionData", "source": w, "sink": f,
                                 "type": "VIDEO", "sourceDescription": "default", "sinkDescription": "default"}])
    );

    c.subscribe(&w, "ElementDisconnected").await;
    c.invoke(&w, "disconnect", json!({"sink": f, "mediaType": "VIDEO"}))
        .await;
    let ev = c.event(|e| e["type"] == "ElementDisconnected").await;
    assert_eq!(ev["data"]["mediaType"], "VIDEO");
    let sources = c
        .invoke(&f, "getSourceConnections", json!({"mediaType": "VIDEO"}))
        .await["value"]
        .clone();
    assert_eq!(sources, json!([]));

    c.ok("unsubscribe", json!({"object": w, "subscription": sub}))
        .await;
    c.ok(
        "unsubscribe",
        json!({"object": w, "subscription": "never-existed"}),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn release_is_idempotent_and_cascades() {
    let (addr, core) = start_server(&[]).await;
    let mut c = Client::connect(addr).await;
    c.subscribe("manager_ServerManager", "ObjectCreated").await;
    c.subscribe("manager_ServerManager", "ObjectDestroyed")
        .await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let ev = c.event(|e| e["type"] == "ObjectCreated").await;
    assert_eq!(
        (ev["object"].clone(), ev["data"]["object"].clone()),
        (json!("manager_ServerManager"), json!(p))
    );
    let w = c
        .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
        .await;
    c.event(|e| e["type"] == "ObjectCreated" && e["data"]["object"] == w.as_str())
        .await;
    let before = core.object_count();
    c.ok("release", json!({"object": p})).await;
    let mut destroyed = vec![];
    for _ in 0..2 {
        destroyed.push(
            c.event(|e| e["type"] == "ObjectDestroyed").await["data"]["objectId"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    destroyed.sort();
    let mut expected = vec![p.clone(), w.clone()];
    expected.sort();
    assert_eq!(destroyed, expected);
    assert_eq!(core.object_count(), before - 2);
    assert_eq!(code(&c.invoke_err(&w, "getName", Value::Null).await), 40101);
    // Releasing again, or something that never existed, still succeeds.
    c.ok("release", json!({"object": p})).await;
    c.ok("release", json!({"object": "nothing"})).await;

    // Releasing one element keeps its pipeline.
    let p = c.create("MediaPipeline", Value::Null).await;
    let w = c
        .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
        .await;
    c.ok("release", json!({"object": w})).await;
    assert_eq!(
        c.ok("describe", json!({"object": p})).await["type"],
        "MediaPipeline"
    );
    assert_eq!(
        c.invoke(&p, "getChildren", Value::Null).await["value"],
        json!([])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn transactions_resolve_newrefs_and_stop_at_the_first_error() {
    let (addr, _) = start_server(&[]).await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let ops = json!([
        {"method": "create", "params": {"type": "WebRtcEndpoint", "constructorParams": {"mediaPipeline": p}, "properties": {}}, "jsonrpc": "2.0", "id": 0},
        {"method": "create", "params": {"type": "PassThrough", "constructorParams": {"mediaPipeline": p}, "properties": {}}, "jsonrpc": "2.0", "id": 1},
        {"method": "invoke", "params": {"object": "newref:0", "operation": "connect", "operationParams": {"sink": "newref:1"}}, "jsonrpc": "2.0", "id": 2},
        {"method": "invoke", "params": {"object": "newref:1", "operation": "getName"}, "jsonrpc": "2.0", "id": 3}
    ]);
    let r = c
        .ok(
            "transaction",
            json!({"operations": ops, "object": {"_events": {}, "_eventsCount": 1}}),
        )
        .await;
    let v = r["value"].as_array().unwrap();
    assert_eq!(v.len(), 4);
    let pt = v[1]["result"]["value"].as_str().unwrap();
    assert!(pt.starts_with(&p));
    assert_eq!(v[3]["result"]["value"], pt);
    assert_eq!(v[2]["result"]["sessionId"], r["sessionId"]);
    let sinks = c
        .invoke(
            v[0]["result"]["value"].as_str().unwrap(),
            "getSinkConnections",
            json!({}),
        )
        .await;
    assert_eq!(sinks["value"].as_array().unwrap().len(), 3);

    let ops = json!([
        {"method": "invoke", "params": {"object": p, "operation": "getName"}, "jsonrpc": "2.0", "id": 0},
        {"method": "invoke", "params": {"object": "missing", "operation": "getName"}, "jsonrpc": "2.0", "id": 1},
        {"method": "invoke", "params": {"object": p, "operation": "getName"}, "jsonrpc": "2.0", "id": 2}
    ]);
    let v = c.ok("transaction", json!({"operations": ops})).await["value"].clone();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[1]["error"]["code"], 40101);

    let ops = json!([{"method": "invoke", "params": {"object": p, "operation": "getName"}, "jsonrpc": "2.0", "id": 7}]);
    let v = c.ok("transaction", json!({"operations": ops})).await["value"].clone();
    assert_eq!(
        (
            v[0]["error"]["code"].clone(),
            v[0]["error"]["message"].clone()
        ),
        (json!(40008), json!("Id of request '0' should be '0'"))
    );
    let ops = json!([{"method": "invoke", "params": {"object": "newref:4", "operation": "getName"}, "jsonrpc": "2.0", "id": 0}]);
    let v = c.ok("transaction", json!({"operations": ops})).await["value"].clone();
    assert_eq!(v[0]["error"]["code"], 40008);
    assert_eq!(
        code(&c.invoke_err("newref:0", "getName", Value::Null).await),
        40109
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reconnection_keeps_objects_and_subscriptions() {
    let (addr, _) = start_server(&[]).await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    c.subscribe("manager_ServerManager", "ObjectCreated").await;
    let session = c.session.clone().unwrap();
    c.close().await;

    let mut c2 = Client::connect(addr).await;
    assert_eq!(c2.ok("ping", Value::Null).await, json!({"value": "pong"}));
    let r = c2.ok("connect", json!({"sessionId": session})).await;
    assert_eq!(r["sessionId"], session.as_str());
    assert!(r["serverId"].is_string());
    assert_eq!(c2.session.as_deref(), Some(session.as_str()));
    assert_eq!(
        c2.invoke(&p, "getName", Value::Null).await["value"],
        p.as_str()
    );
    // The subscription made on the old connection now delivers here.
    let w = c2
        .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
        .await;
    let ev = c2.event(|e| e["type"] == "ObjectCreated").await;
    assert_eq!(ev["data"]["object"], w.as_str());

    let mut c3 = Client::connect(addr).await;
    let e = c3
        .err("connect", json!({"sessionId": "not-a-session"}))
        .await;
    assert_eq!(
        (code(&e), e["message"].clone(), e["data"]["type"].clone()),
        (40007, json!("Invalid session"), json!("INVALID_SESSION"))
    );
    let fresh = c3.ok("connect", json!({})).await;
    assert_ne!(fresh["sessionId"], session.as_str());
    assert_eq!(
        code(&c3.err("keepAlive", json!({"sessionId": "nope"})).await),
        40007
    );
    c3.ok("keepAlive", json!({"sessionId": session})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn abandoned_sessions_are_garbage_collected() {
    let (addr, core) = start_server(&["--gc-period-secs", "1"]).await;
    let mut owner = Client::connect(addr).await;
    let p = owner.create("MediaPipeline", Value::Null).await;
    owner
        .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
        .await;
    let mut watcher = Client::connect(addr).await;
    watcher
        .subscribe("manager_ServerManager", "ObjectDestroyed")
        .await;
    let kept = watcher.create("MediaPipeline", Value::Null).await;
    owner.close().await;
    // The watcher's connection is alive, so only the owner's objects go.
    let ev = watcher
        .event(|e| e["type"] == "ObjectDestroyed" && e["data"]["objectId"] == p.as_str())
        .await;
    assert_eq!(ev["object"], "manager_ServerManager");
    assert_eq!(
        watcher.ok("describe", json!({"object": kept})).await["type"],
        "MediaPipeline"
    );
    let pipelines = watcher
        .invoke("manager_ServerManager", "getPipelines", Value::Null)
        .await["value"]
        .clone();
    assert_eq!(pipelines, json!([kept]));
    assert_eq!(core.object_count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_abandoned_sessions_are_all_collected() {
    let (addr, core) = start_server(&["--gc-period-secs", "1"]).await;
    let offer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n\
                 m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n\
                 a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n\
                 a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n\
                 a=setup:actpass\r\na=sendrecv\r\na=rtcp-mux\r\na=rtpmap:96 VP8/90000\r\n";
    for _ in 0..100 {
        let mut c = Client::connect(addr).await;
        let p = c.create("MediaPipeline", Value::Null).await;
        let w = c
            .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
            .await;
        c.invoke(&w, "processOffer", json!({"offer": offer})).await;
        c.close().await;
    }
    let abandoned = std::time::Instant::now();
    let collected =
        common::wait_until_async(Duration::from_secs(60), || core.object_count() <= 1).await;
    eprintln!(
        "100 abandoned sessions collected in {:?} (GC period 1 s)",
        abandoned.elapsed()
    );
    assert!(collected, "{} objects left", core.object_count());
}

#[tokio::test(flavor = "multi_thread")]
async fn close_session_and_refs() {
    let (addr, _) = start_server(&[]).await;
    let mut a = Client::connect(addr).await;
    let mut b = Client::connect(addr).await;
    let shared = a.create("MediaPipeline", Value::Null).await;
    let own = a.create("MediaPipeline", Value::Null).await;
    b.ok("describe", json!({"object": "manager_ServerManager"}))
        .await;
    let sb = b.session.clone().unwrap();
    b.ok("ref", json!({"object": shared, "sessionId": sb}))
        .await;
    let sa = a.session.clone().unwrap();
    let r = a.request("closeSession", json!({"sessionId": sa})).await;
    assert_eq!(r["result"], Value::Null);
    // `own` was only referenced by the closed session; `shared` is still held by b.
    assert_eq!(
        code(&b.invoke_err(&own, "getName", Value::Null).await),
        40101
    );
    assert_eq!(
        b.ok("describe", json!({"object": shared})).await["type"],
        "MediaPipeline"
    );
    b.ok("unref", json!({"object": shared, "sessionId": sb}))
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn websocket_paths_and_query_strings() {
    let (addr, _) = start_server(&[]).await;
    let mut c = Client::connect_path(addr, "/kurento?access_token=abc").await;
    assert_eq!(c.ok("ping", Value::Null).await["value"], "pong");
    let mut bad = Client::connect_path(addr, "/other").await;
    let closed = tokio::time::timeout(TIMEOUT, bad.next_frame())
        .await
        .unwrap();
    assert!(closed.is_none(), "a wrong path is closed");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_method_survives_wrong_types() {
    let (addr, _) = start_server(&[]).await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let w = c
        .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
        .await;
    let f = c
        .create("FaceOverlayFilter", json!({"mediaPipeline": p}))
        .await;
    let junk = [
        json!(null),
        json!(1),
        json!(-1.5),
        json!("x"),
        json!([1, "a"]),
        json!({"a": {"b": []}}),
        json!(true),
    ];
    // Every operation of every class with junk arguments: an error or a result, never a crash.
    let operations = [
        "processOffer",
        "processAnswer",
        "generateOffer",
        "addIceCandidate",
        "gatherCandidates",
        "connect",
        "disconnect",
        "getSourceConnections",
        "getSinkConnections",
        "isMediaFlowingIn",
        "isMediaTranscoding",
        "getStats",
        "addTag",
        "getTag",
        "setName",
        "setStunServerPort",
        "setTurnUrl",
        "setStunServerAddress",
        "setOverlayedImage",
        "unsetOverlayedImage",
        "getUsedCpu",
        "getKmd",
        "setSendTagsInEvents",
        "setMaxVideoSendBandwidth",
    ];
    for object in [w.as_str(), f.as_str(), p.as_str(), "manager_ServerManager"] {
        for op in operations {
            for value in &junk {
                let args = json!({"offer": value, "answer": value, "options": value, "candidate": value, "sink": value,
                                  "mediaType": value, "key": value, "value": value, "name": value, "uri": value,
                                  "stunServerPort": value, "turnUrl": value, "stunServerAddress": value,
                                  "offsetXPercent": value, "interval": value, "moduleName": value,
                                  "sendTagsInEvents": value, "maxVideoSendBandwidth": value});
                let r = c
                    .request(
                        "invoke",
                        json!({"object": object, "operation": op, "operationParams": args}),
                    )
                    .await;
                assert!(r.get("result").is_some() || r.get("error").is_some(), "{r}");
            }
        }
    }
    let methods = [
        "ping",
        "connect",
        "describe",
        "create",
        "invoke",
        "subscribe",
        "unsubscribe",
        "release",
        "transaction",
        "closeSession",
        "keepAlive",
        "ref",
        "unref",
    ];
    let members = [
        "object",
        "type",
        "operation",
        "operationParams",
        "constructorParams",
        "subscription",
        "operations",
    ];
    for method in methods {
        for value in &junk {
            for member in members {
                let mut params =
                    json!({"object": w, "operation": "getName", "type": "MediaPipeline"});
                params[member] = value.clone();
                let r = c.request(method, params).await;
                assert!(r.get("result").is_some() || r.get("error").is_some(), "{r}");
            }
        }
    }
    assert_eq!(c.ok("ping", Value::Null).await["value"], "pong");
}

#[tokio::test(flavor = "multi_thread")]
async fn video_send_bandwidth_starts_at_kurentos_defaults_and_refuses_negative_values() {
    let (mut c, _p, w) = common::endpoint_session(&[]).await;
    let get = |name: &'static str| json!({"object": w, "operation": name});
    assert_eq!(
        c.ok("invoke", get("getMinVideoSendBandwidth")).await["value"],
        100
    );
    assert_eq!(
        c.ok("invoke", get("getMaxVideoSendBandwidth")).await["value"],
        500
    );
    c.invoke(
        &w,
        "setMaxVideoSendBandwidth",
        json!({"maxVideoSendBandwidth": 0}),
    )
    .await;
    c.invoke(
        &w,
        "setMinVideoSendBandwidth",
        json!({"minVideoSendBandwidth": 300}),
    )
    .await;
    assert_eq!(
        c.ok("invoke", get("getMaxVideoSendBandwidth")).await["value"],
        0
    );
    assert_eq!(
        c.ok("invoke", get("getMinVideoSendBandwidth")).await["value"],
        300
    );
    let e = c
        .invoke_err(
            &w,
            "setMaxVideoSendBandwidth",
            json!({"maxVideoSendBandwidth": -1}),
        )
        .await;
    assert_eq!(e["code"], 40107, "{e}");
    assert_eq!(
        c.ok("invoke", get("getMaxVideoSendBandwidth")).await["value"],
        0
    );
}
