//! Filters of the filter SDK as Kurento classes, over the protocol: names with and without the
//! module prefix, complex types with and without `__module__`/`__type__`, methods, properties,
//! events, `getInfo` and `getKmd`.

mod common;

use common::{start_server, Client};
use serde_json::{json, Value};

fn window(x: i64, y: i64, w: i64, h: i64, tagged: bool) -> Value {
    let mut v = json!({"topRightCornerX": x, "topRightCornerY": y, "width": w, "height": h});
    if tagged {
        v["__module__"] = json!("chroma");
        v["__type__"] = json!("WindowParam");
    }
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn chroma_filter_with_and_without_module_prefix() {
    let (addr, _) = start_server(&[]).await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    for (type_name, tagged) in [("chroma.ChromaFilter", true), ("ChromaFilter", false)] {
        let f = c
            .create(
                type_name,
                json!({"mediaPipeline": p, "window": window(5, 5, 30, 30, tagged)}),
            )
            .await;
        assert!(
            f.starts_with(&format!("{p}/")) && f.ends_with("_chroma.ChromaFilter"),
            "{f}"
        );
        let d = c.ok("describe", json!({"object": f})).await;
        assert_eq!(d["type"], "ChromaFilter");
        assert_eq!(d["qualifiedType"], "chroma.ChromaFilter");
        assert_eq!(
            d["hierarchy"],
            json!([
                "kurento.Filter",
                "kurento.MediaElement",
                "kurento.MediaObject"
            ])
        );
        c.invoke(&f, "unsetBackground", Value::Null).await;
        // Connections work as for any element.
        c.invoke(&f, "connect", json!({"sink": f, "mediaType": "VIDEO"}))
            .await;
    }
    // Constructor and method arguments are validated against the filter's declaration.
    let e = c
        .err(
            "create",
            json!({"type": "chroma.ChromaFilter", "constructorParams": {"mediaPipeline": p}}),
        )
        .await;
    assert_eq!(e["code"], 40001, "{e}");
    assert!(e["message"].as_str().unwrap().contains("window"), "{e}");
    let e = c
        .err("create", json!({"type": "chroma.ChromaFilter",
                              "constructorParams": {"mediaPipeline": p, "window": {"topRightCornerX": "five"}}}))
        .await;
    assert_eq!(e["code"], 40001, "{e}");
    let wrong_type = json!({"topRightCornerX": 1, "topRightCornerY": 1, "width": 2, "height": 2,
                            "__module__": "chroma", "__type__": "Nope"});
    let e = c
        .err("create", json!({"type": "chroma.ChromaFilter", "constructorParams": {"mediaPipeline": p, "window": wrong_type}}))
        .await;
    assert!(e["code"] == 40001 || e["code"] == 40003, "{e}");
    let f = c
        .create(
            "ChromaFilter",
            json!({"mediaPipeline": p, "window": window(0, 0, 10, 10, true)}),
        )
        .await;
    let e = c
        .invoke_err(
            &f,
            "setBackground",
            json!({"uri": "file:///nonexistent/background.png"}),
        )
        .await;
    assert_eq!(e["code"], 40107, "a missing image is an error: {e}");
    let e = c.invoke_err(&f, "frobnicate", Value::Null).await;
    assert_eq!(e["code"], 40008, "{e}");
    let e = c
        .err("subscribe", json!({"object": f, "type": "WindowIn"}))
        .await;
    assert_eq!(e["code"], 40106);
}

#[tokio::test(flavor = "multi_thread")]
async fn pointer_detector_windows_and_events() {
    let (addr, _) = start_server(&[]).await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let region = json!({"topRightCornerX": 5, "topRightCornerY": 5, "width": 30, "height": 30,
                        "__module__": "pointerdetector", "__type__": "WindowParam"});
    let window0 = json!({"id": "window0", "height": 50, "width": 50, "upperRightX": 500, "upperRightY": 150,
                         "__module__": "pointerdetector", "__type__": "PointerDetectorWindowMediaParam"});
    let f = c
        .create(
            "pointerdetector.PointerDetectorFilter",
            json!({"mediaPipeline": p, "calibrationRegion": region,
                                                                "windows": [window0]}),
        )
        .await;
    assert!(f.ends_with("_pointerdetector.PointerDetectorFilter"), "{f}");
    c.subscribe(&f, "WindowIn").await;
    c.subscribe(&f, "WindowOut").await;
    let window1 =
        json!({"id": "window1", "height": 50, "width": 50, "upperRightX": 500, "upperRightY": 250});
    c.invoke(&f, "addWindow", json!({"window": window1})).await;
    c.invoke(&f, "trackColorFromCalibrationRegion", Value::Null)
        .await;
    c.invoke(&f, "removeWindow", json!({"windowId": "window0"}))
        .await;
    c.invoke(&f, "clearWindows", Value::Null).await;
    let e = c
        .invoke_err(&f, "addWindow", json!({"window": {"id": "w"}}))
        .await;
    assert_eq!(e["code"], 40001, "{e}");
    let bare = c
        .create("PointerDetectorFilter", json!({"mediaPipeline": p,
            "calibrationRegion": {"topRightCornerX": 0, "topRightCornerY": 0, "width": 10, "height": 10}}))
        .await;
    assert_eq!(
        c.ok("describe", json!({"object": bare})).await["qualifiedType"],
        "pointerdetector.PointerDetectorFilter"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn get_info_and_get_kmd_describe_sdk_filters() {
    let (addr, _) = start_server(&[]).await;
    let mut c = Client::connect(addr).await;
    let info = c
        .invoke("manager_ServerManager", "getInfo", Value::Null)
        .await["value"]
        .clone();
    let modules = info["modules"].as_array().unwrap();
    let factories = |name: &str| {
        modules
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("module {name} in {modules:?}"))["factories"]
            .clone()
    };
    assert_eq!(factories("chroma"), json!(["ChromaFilter"]));
    assert_eq!(
        factories("pointerdetector"),
        json!(["PointerDetectorFilter"])
    );
    let kmd = c
        .invoke(
            "manager_ServerManager",
            "getKmd",
            json!({"moduleName": "chroma"}),
        )
        .await["value"]
        .clone();
    let kmd: Value = serde_json::from_str(kmd.as_str().unwrap()).unwrap();
    let class = &kmd["remoteClasses"][0];
    assert_eq!(class["name"], "ChromaFilter");
    assert_eq!(class["extends"], "Filter");
    let methods: Vec<&str> = class["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert!(
        methods.contains(&"setBackground") && methods.contains(&"unsetBackground"),
        "{methods:?}"
    );
    assert_eq!(kmd["complexTypes"][0]["name"], "WindowParam");
}

#[tokio::test(flavor = "multi_thread")]
async fn gstreamer_filter_commands_and_typed_properties() {
    // queue has properties of every type; it is refused unless allowed (it adds a thread).
    let (addr, _) = start_server(&["--gstreamer-filter-allow", "queue"]).await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let created = c
        .ok("create", json!({"type": "GStreamerFilter",
                             "constructorParams": {"mediaPipeline": p, "command": "queue", "filterType": "VIDEO"},
                             "properties": {"name": "myqueue"}}))
        .await;
    let f = created["value"].as_str().unwrap().to_owned();
    assert!(f.ends_with("_kurento.GStreamerFilter"), "{f}");
    assert_eq!(
        c.invoke(&f, "getCommand", Value::Null).await["value"],
        "queue"
    );
    // Every property type converts from its string: uint, uint64, enum by nick, boolean.
    for (name, value) in [
        ("max-size-buffers", "3"),
        ("max-size-time", "1000000000"),
        ("leaky", "downstream"),
        ("silent", "true"),
    ] {
        c.invoke(
            &f,
            "setElementProperty",
            json!({"propertyName": name, "propertyValue": value}),
        )
        .await;
    }
    for (name, value) in [
        ("max-size-buffers", "banana"),
        ("max-size-buffers", "-5"),
        ("no-such-property", "1"),
        ("leaky", "sideways"),
    ] {
        let e = c
            .invoke_err(
                &f,
                "setElementProperty",
                json!({"propertyName": name, "propertyValue": value}),
            )
            .await;
        assert_eq!(e["code"], 40001, "{name}={value}: {e}");
    }
    // Doubles out of range, NaN included, are refused too (they used to panic in the bindings).
    let balance = c
        .create(
            "GStreamerFilter",
            json!({"mediaPipeline": p, "command": "videobalance"}),
        )
        .await;
    for value in ["NaN", "5.0", "-inf"] {
        let e = c
            .invoke_err(
                &balance,
                "setElementProperty",
                json!({"propertyName": "saturation", "propertyValue": value}),
            )
            .await;
        assert_eq!(e["code"], 40001, "saturation={value}: {e}");
    }
    c.invoke(
        &balance,
        "setElementProperty",
        json!({"propertyName": "saturation", "propertyValue": "1.5"}),
    )
    .await;
    for (command, filter_type) in [
        ("nosuchelement", "VIDEO"),
        ("audioconvert", "AUTODETECT"),
        ("queue", "AUDIO"),
    ] {
        let e = c
            .err("create", json!({"type": "kurento.GStreamerFilter",
                                  "constructorParams": {"mediaPipeline": p, "command": command, "filterType": filter_type}}))
            .await;
        assert_eq!(e["code"], 40001, "{command}: {e}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn crowd_detector_rois_and_processing_width() {
    let (addr, _) = start_server(&[]).await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let point = |x: f64, y: f64, tagged: bool| {
        let mut v = json!({"x": x, "y": y});
        if tagged {
            v["__module__"] = json!("crowddetector");
            v["__type__"] = json!("RelativePoint");
        }
        v
    };
    for (type_name, tagged) in [
        ("crowddetector.CrowdDetectorFilter", true),
        ("CrowdDetectorFilter", false),
    ] {
        let mut config = json!({"occupancyLevelMin": 10, "occupancyLevelMed": 35, "occupancyLevelMax": 65,
                                "occupancyNumFramesToEvent": 5, "fluidityLevelMin": 10, "fluidityLevelMed": 35,
                                "fluidityLevelMax": 65, "fluidityNumFramesToEvent": 5, "sendOpticalFlowEvent": false,
                                "opticalFlowNumFramesToEvent": 3, "opticalFlowNumFramesToReset": 3,
                                "opticalFlowAngleOffset": 0});
        let mut roi = json!({"id": "roi1", "points": [point(0.0, 0.0, tagged), point(0.5, 0.0, tagged),
                                                       point(0.5, 0.5, tagged), point(0.0, 0.5, tagged)],
                             "regionOfInterestConfig": config.clone()});
        if tagged {
            config["__module__"] = json!("crowddetector");
            config["__type__"] = json!("RegionOfInterestConfig");
            roi["regionOfInterestConfig"] = config;
            roi["__module__"] = json!("crowddetector");
            roi["__type__"] = json!("RegionOfInterest");
        }
        let f = c
            .create(type_name, json!({"mediaPipeline": p, "rois": [roi]}))
            .await;
        assert!(f.ends_with("_crowddetector.CrowdDetectorFilter"), "{f}");
        for event in [
            "CrowdDetectorOccupancy",
            "CrowdDetectorFluidity",
            "CrowdDetectorDirection",
        ] {
            c.subscribe(&f, event).await;
        }
        assert_eq!(
            c.invoke(&f, "getProcessingWidth", Value::Null).await["value"],
            320
        );
        c.invoke(&f, "setProcessingWidth", json!({"processingWidth": 640}))
            .await;
        assert_eq!(
            c.invoke(&f, "getProcessingWidth", Value::Null).await["value"],
            640
        );
    }
    let e = c
        .err("create", json!({"type": "CrowdDetectorFilter", "constructorParams": {"mediaPipeline": p, "rois": [{"id": "x"}]}}))
        .await;
    assert_eq!(e["code"], 40001, "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn plate_detector_class() {
    let (addr, _) = start_server(&[]).await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    for type_name in ["platedetector.PlateDetectorFilter", "PlateDetectorFilter"] {
        let f = c.create(type_name, json!({"mediaPipeline": p})).await;
        assert!(f.ends_with("_platedetector.PlateDetectorFilter"), "{f}");
        c.subscribe(&f, "PlateDetected").await;
        c.invoke(
            &f,
            "setPlateWidthPercentage",
            json!({"plateWidthPercentage": 0.3}),
        )
        .await;
        let e = c
            .invoke_err(
                &f,
                "setPlateWidthPercentage",
                json!({"plateWidthPercentage": 1.5}),
            )
            .await;
        assert_eq!(e["code"], 40001, "{e}");
    }
}
