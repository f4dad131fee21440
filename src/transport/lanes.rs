//! Which requests of one connection may run at the same time. An application server usually
//! drives every user's call over one connection, so one slow `processOffer` or `release` must
//! not hold back other calls: requests about different pipelines run concurrently, while those
//! about the same pipeline keep their order (a client may pipeline `subscribe` then `invoke` on
//! one element). Requests that bind or switch the connection's session run alone.

use serde_json::Value;

use crate::protocol;

/// How a request is scheduled among the connection's others.
#[derive(Debug, PartialEq, Eq)]
pub enum Lane {
    /// After the earlier requests of the same pipeline (the key), beside all others.
    Pipeline(String),
    /// Beside everything: it touches no existing pipeline (`ping`, a new `MediaPipeline`).
    Free,
    /// Alone: after every earlier request, before every later one.
    Barrier,
}

/// The lane of the request `text` on a connection bound to `session`.
pub fn lane_of(text: &str, session: Option<&str>) -> Lane {
    let Some(session) = session else {
        return Lane::Barrier;
    };
    let Ok(request) = protocol::parse_request(text) else {
        return Lane::Barrier;
    };
    let params = request.params.unwrap_or_default();
    let str_param = |name: &str| params.get(name).and_then(Value::as_str);
    match params.get("sessionId") {
        None => {}
        Some(Value::String(s)) if s == session => {}
        Some(_) => return Lane::Barrier,
    }
    let object_lane = |id: Option<&str>| match id {
        // The server manager belongs to no pipeline; it answers at once.
        Some(id) if id.starts_with("manager_") => Lane::Free,
        Some(id) if !id.is_empty() => Lane::Pipeline(pipeline_of(id).to_owned()),
        _ => Lane::Barrier,
    };
    match request.method.as_str() {
        "ping" => Lane::Free,
        "create" => {
            let ctor = params.get("constructorParams");
            let parent = ctor
                .and_then(|c| c.get("mediaPipeline").or_else(|| c.get("hub")))
                .and_then(Value::as_str);
            match (str_param("type"), parent) {
                (Some("MediaPipeline"), _) => Lane::Free,
                (_, Some(parent)) => object_lane(Some(parent)),
                _ => Lane::Barrier,
            }
        }
        "invoke" | "subscribe" | "unsubscribe" | "release" | "describe" => {
            object_lane(str_param("object"))
        }
        _ => Lane::Barrier,
    }
}

/// The pipeline part of an object id: elements are `<pipeline>/<element>`, hub ports
/// `<pipeline>/<hub>/<port>`.
fn pipeline_of(id: &str) -> &str {
    id.split('/').next().unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Option<&str> = Some("s1");
    const P: &str = "6b2f_kurento.MediaPipeline";

    fn req(method: &str, params: Value) -> String {
        serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
            .to_string()
    }

    #[test]
    fn requests_about_one_pipeline_share_its_lane() {
        let w = format!("{P}/a1_kurento.WebRtcEndpoint");
        let port = format!("{P}/c3_kurento.Composite/d4_kurento.HubPort");
        for text in [
            req(
                "invoke",
                serde_json::json!({"object": w, "operation": "processOffer"}),
            ),
            req(
                "subscribe",
                serde_json::json!({"object": w, "type": "IceCandidateFound"}),
            ),
            req("release", serde_json::json!({"object": P})),
            req(
                "release",
                serde_json::json!({"object": port, "sessionId": "s1"}),
            ),
            req(
                "create",
                serde_json::json!({"type": "WebRtcEndpoint",
                                   "constructorParams": {"mediaPipeline": P}}),
            ),
            req(
                "create",
                serde_json::json!({"type": "HubPort",
                                   "constructorParams": {"hub": format!("{P}/c3_kurento.Composite")}}),
            ),
        ] {
            assert_eq!(lane_of(&text, S), Lane::Pipeline(P.into()), "{text}");
        }
    }

    #[test]
    fn pings_and_new_pipelines_run_beside_everything() {
        assert_eq!(lane_of(&req("ping", serde_json::json!({})), S), Lane::Free);
        let create = req("create", serde_json::json!({"type": "MediaPipeline"}));
        assert_eq!(lane_of(&create, S), Lane::Free);
        let manager = req(
            "invoke",
            serde_json::json!({"object": "manager_ServerManager", "operation": "getPipelines"}),
        );
        assert_eq!(lane_of(&manager, S), Lane::Free);
    }

    #[test]
    fn session_changes_transactions_and_the_unknown_run_alone() {
        let create = req("create", serde_json::json!({"type": "MediaPipeline"}));
        assert_eq!(lane_of(&create, None), Lane::Barrier, "binds a session");
        let other = req(
            "release",
            serde_json::json!({"object": P, "sessionId": "s2"}),
        );
        assert_eq!(lane_of(&other, S), Lane::Barrier, "switches session");
        for text in [
            req("connect", serde_json::json!({"sessionId": "s1"})),
            req("transaction", serde_json::json!({"operations": []})),
            req("invoke", serde_json::json!({"operation": "play"})),
            req("whatever", serde_json::json!({})),
            "not json".to_owned(),
        ] {
            assert_eq!(lane_of(&text, S), Lane::Barrier, "{text}");
        }
    }
}
