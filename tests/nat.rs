//! NAT traversal, tested for real: network namespaces joined by veth pairs, iptables NAT, a
//! real coturn and the real `rheo` binary; a webrtcbin client (the "browser") behind a NAT.
//!
//! ```text
//!   cli ns                      wan ns (router)                    srv ns
//!   10.0.0.2/24  ── to-cli 10.0.0.1/24     to-srv 10.1.0.1/24 ──  10.1.0.2/24  Rheo
//!   webrtcbin      masquerade → .30         1:1 NAT .10 ↔ 10.1.0.2   KMS_EXTERNAL_IPV4=.10 / auto
//!                             to-turn 198.51.100.1/24, .10/32, .30/32
//!                                          │
//!                             turn ns  198.51.100.20/24  coturn (deploy/turnserver.conf)
//! ```
//!
//! `relay_when_direct_udp_is_blocked`: the router drops UDP (and TCP other than the WebSocket on
//! 8888) between the client and the server networks, so media can only go through coturn.
//! `direct_when_udp_is_open`: the same without the block; ICE finds the path through both NATs.
//!
//! The client must run with the client namespace as its network, so the orchestrating test
//! re-executes this test binary there (`ip netns exec <cli> <exe> --exact nat_client ...`) with
//! its parameters in `RHEO_NAT_CLIENT`; `nat_client` reports what it saw as JSON lines and the
//! orchestrator asserts. Without root/network namespaces/coturn the tests print a banner saying
//! the checks were NOT performed (a failure instead with `RHEO_NAT_REQUIRED=1`).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Client, ScratchDir, MEDIA_TIMEOUT, TIMEOUT};
use rheo_media::test_peer::{percent_encode, PeerConfig, TestPeer};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SERVER_PUBLIC: &str = "198.51.100.10";
const SERVER_PRIVATE: &str = "10.1.0.2";
const TURN_PUBLIC: &str = "198.51.100.20";
const CLIENT_PUBLIC: &str = "198.51.100.30";
const WS_PORT: u16 = 8888;
const MIN_PORT: u16 = 40000;
const MAX_PORT: u16 = 40019;

const CLIENT_ENV: &str = "RHEO_NAT_CLIENT";
const CLIENT_TEST: &str = "nat_client";
const RESULT: &str = "NAT-CLIENT-RESULT ";
const DONE: &str = "NAT-CLIENT-DONE ";
/// Orange-ish: R high, G mid, B low.
const COLOUR: u32 = 0xffe08020;

const START_TIMEOUT: Duration = Duration::from_secs(20);
const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);

/// The cases build separate namespaces, but share two cores with everything else: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Case {
    Relay,
    Direct,
}

impl Case {
    fn name(self) -> &'static str {
        match self {
            Case::Relay => "relay",
            Case::Direct => "direct",
        }
    }
}

#[test]
fn relay_when_direct_udp_is_blocked() {
    let Some(run) = run_case(Case::Relay) else {
        return;
    };
    run.summary();
    for pair in run.selected_remotes() {
        assert_eq!(
            (pair.typ.as_str(), pair.addr.as_str()),
            ("relay", TURN_PUBLIC),
            "Rheo's selected remote candidate is the client's relay on coturn: {}",
            pair.raw
        );
    }
    let peer_local = run.result["peer_selected"][0].as_str().unwrap_or("");
    assert!(
        peer_local.starts_with(&format!("relay {TURN_PUBLIC} ")),
        "the client's own selected local candidate is its relay: {peer_local}"
    );
    // The client's TURN credentials came from Rheo's /turn-credentials (coturn accepted them:
    // the relay worked), with the URIs Rheo was configured to hand out.
    let creds = &run.result["turn_credentials"];
    let expiry = creds["username"]
        .as_str()
        .and_then(|u| u.strip_suffix(":rheo"))
        .and_then(|e| e.parse::<u64>().ok());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        expiry.is_some_and(|e| e > now),
        "username is <future unix time>:rheo: {creds:#}"
    );
    assert_eq!(
        creds["uris"],
        json!([format!("turn:{TURN_PUBLIC}:3478")]),
        "{creds:#}"
    );
    assert_eq!(
        creds["iceServers"][0]["username"], creds["username"],
        "{creds:#}"
    );
    assert_eq!(
        creds["iceServers"][0]["credential"], creds["credential"],
        "{creds:#}"
    );
    run.assert_common();
}

#[test]
fn direct_when_udp_is_open() {
    let Some(run) = run_case(Case::Direct) else {
        return;
    };
    run.summary();
    for pair in run.selected_remotes() {
        assert!(
            ["host", "srflx", "prflx"].contains(&pair.typ.as_str()),
            "a direct path, not the relay: {}",
            pair.raw
        );
        assert_eq!(
            pair.addr, CLIENT_PUBLIC,
            "Rheo sees the client at its NAT's public address: {}",
            pair.raw
        );
    }
    run.assert_common();
}

/// What one case observed; `Drop` of the guards inside has already cleaned up.
struct CaseRun {
    case: Case,
    result: Value,
    done: Value,
    udp_sockets: Vec<String>,
    tcp_listeners: Vec<String>,
    logs: String,
}

impl CaseRun {
    /// The remote candidate of every NewCandidatePairSelected Rheo sent (at least one).
    fn selected_remotes(&self) -> Vec<Candidate> {
        let pairs: Vec<&Value> = self.result["pairs"]
            .as_array()
            .into_iter()
            .chain(self.done["late_pairs"].as_array())
            .flatten()
            .collect();
        assert!(
            !pairs.is_empty(),
            "no NewCandidatePairSelected: {:#}\n{}",
            self.result,
            self.logs
        );
        pairs
            .iter()
            .map(|p| {
                let remote = p["data"]["candidatePair"]["remoteCandidate"]
                    .as_str()
                    .expect("remoteCandidate");
                Candidate::parse(remote).unwrap_or_else(|| panic!("unparsable candidate {remote}"))
            })
            .collect()
    }

    /// What Rheo selected, what the client selected, Rheo's sockets (printed for the record).
    fn summary(&self) {
        let r = &self.result;
        let ports = |lines: &[String]| lines.iter().map(|s| socket_port(s)).collect::<Vec<_>>();
        println!(
            "{} case: Rheo's selected pairs {}; late {}; the client's (local, remote) {}; \
             Rheo's UDP ports {:?}; TCP listening ports {:?}; /turn-credentials {}",
            self.case.name(),
            json!(r["pairs"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| &p["data"]["candidatePair"])
                .collect::<Vec<_>>()),
            self.done["late_pairs"],
            r["peer_selected"],
            ports(&self.udp_sockets),
            ports(&self.tcp_listeners),
            r["turn_credentials"],
        );
    }

    /// Media both ways, KMS_EXTERNAL_IPV4 in every candidate, every UDP socket in the range.
    fn assert_common(&self) {
        let r = &self.result;
        assert_eq!(
            r["colour_ok"], true,
            "the colour sent came back (client → Rheo → client): {r:#}\n{}",
            self.logs
        );
        assert!(
            r["inbound_packets"].as_u64().unwrap_or(0) > 0,
            "Rheo received RTP: {r:#}"
        );
        assert_eq!(
            self.done["more_frames"], true,
            "media still flowing after the socket check: {:#}",
            self.done
        );

        let candidates: Vec<Candidate> = r["rheo_candidates"]
            .as_array()
            .expect("rheo_candidates")
            .iter()
            .filter_map(|c| Candidate::parse(c.as_str()?))
            .collect();
        assert!(
            candidates
                .iter()
                .any(|c| c.typ == "host" && c.proto == "udp" && c.addr == SERVER_PUBLIC),
            "a UDP host candidate announces KMS_EXTERNAL_IPV4={SERVER_PUBLIC}: {:#}",
            r["rheo_candidates"]
        );
        for c in &candidates {
            assert!(
                !c.raw.split_whitespace().any(|f| f == SERVER_PRIVATE),
                "no candidate reveals the private address {SERVER_PRIVATE}: {}",
                c.raw
            );
            if c.proto == "udp" {
                assert!(
                    (MIN_PORT..=MAX_PORT).contains(&c.port),
                    "candidate port in {MIN_PORT}-{MAX_PORT}: {}",
                    c.raw
                );
            }
        }

        assert!(
            !self.udp_sockets.is_empty(),
            "Rheo has UDP sockets while media flows\n{}",
            self.logs
        );
        let outside: Vec<&String> = self
            .udp_sockets
            .iter()
            .filter(|s| !(MIN_PORT..=MAX_PORT).contains(&socket_port(s)))
            .collect();
        assert!(
            outside.is_empty(),
            "every UDP socket of Rheo is in KMS_MIN_PORT-KMS_MAX_PORT ({MIN_PORT}-{MAX_PORT}); \
             outside: {outside:#?}\nall: {:#?}\n{}",
            self.udp_sockets,
            self.logs
        );
        // ICE-TCP's passive candidates listen in the range too; only the WebSocket is outside.
        let outside: Vec<&String> = self
            .tcp_listeners
            .iter()
            .filter(|s| socket_port(s) != WS_PORT)
            .filter(|s| !(MIN_PORT..=MAX_PORT).contains(&socket_port(s)))
            .collect();
        assert!(
            outside.is_empty(),
            "every TCP listener of Rheo but {WS_PORT} is in {MIN_PORT}-{MAX_PORT}; outside: \
             {outside:#?}"
        );
    }
}

/// `candidate:F C PROTO PRIO ADDR PORT typ TYPE ...`
#[derive(Debug)]
struct Candidate {
    raw: String,
    proto: String,
    addr: String,
    port: u16,
    typ: String,
}

impl Candidate {
    fn parse(raw: &str) -> Option<Candidate> {
        let f: Vec<&str> = raw.split_whitespace().collect();
        let typ = f
            .iter()
            .position(|x| *x == "typ")
            .and_then(|i| f.get(i + 1))?;
        Some(Candidate {
            raw: raw.to_string(),
            proto: f.get(2)?.to_ascii_lowercase(),
            addr: f.get(4)?.to_string(),
            port: f.get(5)?.parse().ok()?,
            typ: typ.to_string(),
        })
    }
}

/// The local port of an `ss` line (`UNCONN 0 0 10.1.0.2:40003 0.0.0.0:* users:...`).
fn socket_port(line: &str) -> u16 {
    line.split_whitespace()
        .nth(3)
        .and_then(|a| a.rsplit_once(':'))
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("unparsable ss line {line}"))
}

/// Builds the case's namespaces, starts coturn and Rheo, runs the client and collects what it
/// saw plus Rheo's sockets while media flowed. `None` (after a banner) when the machine cannot.
fn run_case(case: Case) -> Option<CaseRun> {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(why) = preflight() {
        banner(&why);
        if std::env::var_os("RHEO_NAT_REQUIRED").is_some_and(|v| v != "0") {
            panic!("RHEO_NAT_REQUIRED is set and the NAT test cannot run: {why}");
        }
        return None;
    }
    sweep_stale();
    let started = Instant::now();
    let scratch = ScratchDir::new(&format!("nat-{}", case.name()));
    let logs = Logs(vec![
        ("coturn", scratch.join("coturn.log")),
        ("rheo", scratch.join("rheo.log")),
        ("client (stderr)", scratch.join("client.log")),
    ]);
    let net = Topology::new(case.name(), case == Case::Relay);
    let secret = uuid::Uuid::new_v4().simple().to_string();
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/turnserver.conf");

    let pidfile = scratch.join("turnserver.pid");
    let db = scratch.join("turndb");
    let mut turn = Proc::spawn(
        "coturn",
        &net.turn,
        "turnserver",
        &[
            "-c",
            conf.to_str().unwrap(),
            "--static-auth-secret",
            &secret,
            "--listening-ip",
            TURN_PUBLIC,
            "--relay-ip",
            TURN_PUBLIC,
            "--pidfile",
            pidfile.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
        ],
        &[],
        &logs.0[0].1,
    );
    wait_listening(&net.turn, "-uln", &format!("{TURN_PUBLIC}:3478"), &mut turn);

    let (min, max) = (MIN_PORT.to_string(), MAX_PORT.to_string());
    let turn_uri = format!("turn:{TURN_PUBLIC}:3478");
    let external_ipv4 = match case {
        Case::Relay => "auto",
        Case::Direct => SERVER_PUBLIC,
    };
    let rust_log = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
    let mut rheo = Proc::spawn(
        "rheo",
        &net.srv,
        env!("CARGO_BIN_EXE_rheo"),
        &["--bind", "0.0.0.0", "--port", &WS_PORT.to_string()],
        &[
            ("KMS_MIN_PORT", &min),
            ("KMS_MAX_PORT", &max),
            // The relay case finds the address as KMS_EXTERNAL_IPV4=auto does, from the STUN
            // server (coturn) that sees Rheo through the 1:1 NAT.
            ("KMS_EXTERNAL_IPV4", external_ipv4),
            ("KMS_STUN_IP", TURN_PUBLIC),
            ("KMS_STUN_PORT", "3478"),
            ("KMS_NETWORK_INTERFACES", "eth0"),
            ("RHEO_TURN_SECRET", &secret),
            ("RHEO_TURN_URIS", &turn_uri),
            ("RUST_LOG", &rust_log),
        ],
        &logs.0[1].1,
    );
    wait_listening(&net.srv, "-tln", &format!("0.0.0.0:{WS_PORT}"), &mut rheo);

    let params = json!({
        "server": format!("{SERVER_PUBLIC}:{WS_PORT}"),
        "stun": format!("stun://{TURN_PUBLIC}:3478"),
        "turn": case == Case::Relay,
    });
    let mut client = ClientProc::spawn(&net.cli, &params, &logs.0[2].1);
    let result = client.line(RESULT, CLIENT_TIMEOUT);
    // The client holds the session (media flowing) until told to go on.
    let udp_sockets = rheo_sockets(&net.srv, rheo.pid(), "-uanp");
    let tcp_listeners = rheo_sockets(&net.srv, rheo.pid(), "-tlnp");
    client.proceed();
    let done = client.line(DONE, CLIENT_TIMEOUT);
    let status = client.finish(CLIENT_TIMEOUT);
    assert!(
        status.success(),
        "the client test failed ({status}): {}",
        client.seen.join("\n")
    );
    turn.ensure_alive();
    rheo.ensure_alive();
    let dump = logs.dump();
    drop((client, rheo, turn, net));
    eprintln!(
        "NAT {} case: set up, media and clean-up in {:.1?}",
        case.name(),
        started.elapsed()
    );
    Some(CaseRun {
        case,
        result,
        done,
        udp_sockets,
        tcp_listeners,
        logs: dump,
    })
}

/// `ss` lines of the sockets owned by `pid` in `netns`.
fn rheo_sockets(netns: &str, pid: u32, flags: &str) -> Vec<String> {
    let out = must(&["ip", "netns", "exec", netns, "ss", "-H", flags]);
    let tag = format!("pid={pid},");
    out.lines()
        .filter(|l| l.contains(&tag))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

fn banner(why: &str) {
    let line = "=".repeat(78);
    // Straight to the file descriptor: libtest captures eprintln! of passing tests.
    let _ = writeln!(
        std::io::stderr(),
        "\n{line}\n NAT TRAVERSAL TEST NOT RUN: {why}\n The relay, direct-path, \
         KMS_EXTERNAL_IPV4 and port-range checks were NOT performed.\n It needs root, network \
         namespaces, iptables, sysctl, ss and coturn\n (apt-get install iproute2 iptables procps \
         coturn). RHEO_NAT_REQUIRED=1 makes this a failure.\n{line}\n"
    );
}

/// Can this machine build the topology? Tries the tools and a throw-away namespace.
fn preflight() -> Result<(), String> {
    for tool in ["ip", "iptables", "ss", "sysctl", "turnserver"] {
        if !on_path(tool) {
            return Err(format!("`{tool}` is not installed"));
        }
    }
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/turnserver.conf");
    if !conf.is_file() {
        return Err(format!("{} is missing", conf.display()));
    }
    let probe = format!("rheonat-{}-probe", std::process::id());
    run(&["ip", "netns", "add", &probe])
        .map_err(|e| format!("cannot create a network namespace: {e}"))?;
    let works = run(&[
        "ip", "-n", &probe, "link", "add", "p0", "type", "veth", "peer", "name", "p1",
    ])
    .and_then(|_| {
        run(&[
            "ip", "netns", "exec", &probe, "iptables", "-t", "nat", "-L", "-n",
        ])
    });
    let _ = run(&["ip", "netns", "del", &probe]);
    works
        .map(|_| ())
        .map_err(|e| format!("namespace set-up fails: {e}"))
}

fn on_path(tool: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .any(|d| d.join(tool).is_file())
}

/// Removes namespaces a killed run of this test left behind (their test process is gone).
fn sweep_stale() {
    let Ok(list) = run(&["ip", "netns", "list"]) else {
        return;
    };
    for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
        let Some(pid) = name
            .strip_prefix("rheonat-")
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        // Only coturn/Rheo/the client of that dead run can be inside.
        for p in run(&["ip", "netns", "pids", name])
            .unwrap_or_default()
            .split_whitespace()
        {
            let _ = run(&["kill", "-KILL", p]);
        }
        let _ = run(&["ip", "netns", "del", name]);
        eprintln!("removed the stale namespace {name}");
    }
}

fn run(args: &[&str]) -> Result<String, String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("`{}`: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn must(args: &[&str]) -> String {
    run(args).unwrap_or_else(|e| panic!("{e}"))
}

/// The four namespaces and the router's rules; all deleted on drop (also on panic).
struct Topology {
    wan: String,
    srv: String,
    turn: String,
    cli: String,
    created: Vec<String>,
}

impl Topology {
    fn new(case: &str, block_direct: bool) -> Topology {
        let prefix = format!("rheonat-{}-{case}", std::process::id());
        let mut t = Topology {
            wan: format!("{prefix}-wan"),
            srv: format!("{prefix}-srv"),
            turn: format!("{prefix}-turn"),
            cli: format!("{prefix}-cli"),
            created: Vec::new(),
        };
        for ns in [t.wan.clone(), t.srv.clone(), t.turn.clone(), t.cli.clone()] {
            must(&["ip", "netns", "add", &ns]);
            t.created.push(ns.clone());
            // IPv4 only: no IPv6 link-local candidates to reason about.
            must(&[
                "ip",
                "netns",
                "exec",
                &ns,
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1",
            ]);
            must(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
        }
        let (wan, srv, turn, cli) = (&t.wan, &t.srv, &t.turn, &t.cli);
        for (link, ns, router_addr, addr) in [
            ("to-srv", srv, "10.1.0.1/24", "10.1.0.2/24"),
            ("to-turn", turn, "198.51.100.1/24", "198.51.100.20/24"),
            ("to-cli", cli, "10.0.0.1/24", "10.0.0.2/24"),
        ] {
            must(&[
                "ip", "-n", wan, "link", "add", link, "type", "veth", "peer", "name", "eth0",
                "netns", ns,
            ]);
            must(&["ip", "-n", wan, "addr", "add", router_addr, "dev", link]);
            must(&["ip", "-n", wan, "link", "set", link, "up"]);
            must(&["ip", "-n", ns, "addr", "add", addr, "dev", "eth0"]);
            must(&["ip", "-n", ns, "link", "set", "eth0", "up"]);
            let gateway = router_addr.split('/').next().unwrap();
            must(&["ip", "-n", ns, "route", "add", "default", "via", gateway]);
        }
        // The NAT addresses of the server and of the client, on the public side.
        for a in [SERVER_PUBLIC, CLIENT_PUBLIC] {
            must(&[
                "ip",
                "-n",
                wan,
                "addr",
                "add",
                &format!("{a}/32"),
                "dev",
                "to-turn",
            ]);
        }
        let ipt = |rule: &str| {
            let mut args = vec!["ip", "netns", "exec", wan, "iptables"];
            args.extend(rule.split_whitespace());
            must(&args);
        };
        must(&[
            "ip",
            "netns",
            "exec",
            wan,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ]);
        // Server: 1:1 NAT (the cloud VM case). Client: everything leaving its network is SNATed.
        ipt(&format!(
            "-t nat -A PREROUTING -d {SERVER_PUBLIC} -j DNAT --to-destination {SERVER_PRIVATE}"
        ));
        ipt(&format!(
            "-t nat -A POSTROUTING -s {SERVER_PRIVATE} ! -o to-srv -j SNAT --to-source {SERVER_PUBLIC}"
        ));
        ipt(&format!(
            "-t nat -A POSTROUTING -s 10.0.0.0/24 ! -o to-cli -j SNAT --to-source {CLIENT_PUBLIC}"
        ));
        if block_direct {
            // Only the WebSocket (TCP 8888) passes between the client and the server networks:
            // no direct UDP and no ICE-TCP, so media must take the relay.
            ipt("-A FORWARD -i to-cli -o to-srv -p udp -j DROP");
            ipt("-A FORWARD -i to-srv -o to-cli -p udp -j DROP");
            ipt(&format!(
                "-A FORWARD -i to-cli -o to-srv -p tcp ! --dport {WS_PORT} -j DROP"
            ));
            ipt(&format!(
                "-A FORWARD -i to-srv -o to-cli -p tcp ! --sport {WS_PORT} -j DROP"
            ));
        }
        // Private addresses are not routable between the two networks: only what the NATs
        // translate (to the server's public address, and answers through the client's NAT).
        ipt("-A FORWARD -i to-cli -o to-srv -m conntrack ! --ctstate DNAT -j DROP");
        ipt("-A FORWARD -i to-srv -o to-cli -m conntrack ! --ctstate DNAT,SNAT -j DROP");
        t
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for ns in self.created.iter().rev() {
            if let Err(e) = run(&["ip", "netns", "del", ns]) {
                eprintln!("cleanup: {e}");
            }
        }
    }
}

/// A process started in a namespace (`ip netns exec` execs it: same pid); killed on drop.
struct Proc {
    name: &'static str,
    child: Child,
}

impl Proc {
    fn spawn(
        name: &'static str,
        netns: &str,
        program: &str,
        args: &[&str],
        envs: &[(&str, &str)],
        log: &Path,
    ) -> Proc {
        let file = std::fs::File::create(log).expect("log file");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", netns, program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file);
        // The configuration is the test's alone, whatever the caller's environment holds.
        for (k, _) in std::env::vars() {
            if k.starts_with("KMS_") || k.starts_with("RHEO_") {
                cmd.env_remove(k);
            }
        }
        cmd.envs(envs.iter().copied());
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc { name, child }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    fn ensure_alive(&mut self) {
        if let Some(status) = self.exited() {
            panic!("{} exited ({status})", self.name);
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (bounded) until `addr` (`IP:PORT` as ss prints it) is listening in `netns`.
fn wait_listening(netns: &str, flags: &str, addr: &str, proc: &mut Proc) {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let out = must(&["ip", "netns", "exec", netns, "ss", "-H", flags]);
        if out
            .lines()
            .any(|l| l.split_whitespace().nth(3) == Some(addr))
        {
            return;
        }
        if let Some(status) = proc.exited() {
            panic!("{} exited ({status}) before listening on {addr}", proc.name);
        }
        assert!(
            Instant::now() < deadline,
            "{} not listening on {addr} within {START_TIMEOUT:?}",
            proc.name
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Log files, printed when `run_case` panics (and kept in `CaseRun` for the checks after it).
struct Logs(Vec<(&'static str, PathBuf)>);

impl Logs {
    fn dump(&self) -> String {
        let mut out = String::new();
        for (name, path) in &self.0 {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            out.push_str(&format!(
                "----- {name} ({}) -----\n{text}\n",
                path.display()
            ));
        }
        out
    }
}

impl Drop for Logs {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.dump());
        }
    }
}

/// This test binary re-executed in the client namespace, running only `nat_client`.
struct ClientProc {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl ClientProc {
    fn spawn(netns: &str, params: &Value, log: &Path) -> ClientProc {
        // This very binary even if a rebuild replaced the file meanwhile (`current_exe` would
        // then name a deleted path).
        let exe = format!("/proc/{}/exe", std::process::id());
        let mut child = Command::new("ip")
            .args(["netns", "exec", netns])
            .arg(exe)
            .args([
                "--exact",
                CLIENT_TEST,
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CLIENT_ENV, params.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).expect("log file"))
            .spawn()
            .expect("client starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        ClientProc {
            stdin: child.stdin.take(),
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The JSON after the next line starting with `prefix`.
    fn line(&mut self, prefix: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    // libtest may have printed `test nat_client ... ` on the same line.
                    if let Some(at) = line.find(prefix) {
                        return serde_json::from_str(&line[at + prefix.len()..])
                            .expect("client JSON");
                    }
                }
                Err(e) => panic!(
                    "no {prefix:?} line from the client ({e}); its output:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Lets the client finish (it waits on its stdin).
    fn proceed(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = writeln!(stdin, "go");
        }
    }

    /// Waits (bounded) for the client's output to end and returns its exit status.
    fn finish(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("the client did not exit: {}", self.seen.join("\n"))
                }
            }
        }
        self.child.wait().expect("client exit status")
    }
}

impl Drop for ClientProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// The client, run by the cases above inside the client namespace.

#[tokio::test(flavor = "multi_thread")]
#[ignore = "run by the NAT tests inside the client's network namespace"]
async fn nat_client() {
    let Ok(params) = std::env::var(CLIENT_ENV) else {
        return;
    };
    let params: Value = serde_json::from_str(&params).expect("parameters");
    let server: SocketAddr = params["server"].as_str().unwrap().parse().unwrap();

    let mut cfg = PeerConfig::color(COLOUR).any_address();
    if let Some(stun) = params["stun"].as_str() {
        cfg = cfg.with_stun(stun);
    }
    let mut turn_credentials = Value::Null;
    if params["turn"] == true {
        let (url, credentials) = turn_server(server).await;
        cfg = cfg.with_turn(&url);
        turn_credentials = credentials;
    }

    let mut c = Client::connect(server).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let w = c
        .create("WebRtcEndpoint", json!({ "mediaPipeline": p }))
        .await;
    c.subscribe(&w, "NewCandidatePairSelected").await;
    c.invoke(&w, "connect", json!({"sink": w})).await;
    let peer = Arc::new(TestPeer::new(cfg).expect("test peer"));
    c.negotiate_with_peer(&w, &peer, |p| p.wait_frames(30, MEDIA_TIMEOUT))
        .await;
    let colour_ok = {
        let peer = peer.clone();
        tokio::task::spawn_blocking(move || {
            peer.wait_frame_where(MEDIA_TIMEOUT, |f| {
                let [r, g, b] = f.mean_rgb_all();
                (r - 224.0).abs() < 30.0 && (g - 128.0).abs() < 30.0 && (b - 32.0).abs() < 30.0
            })
            .is_some()
        })
        .await
        .unwrap()
    };
    // Every selection, in order (the first one awaited, bounded by the client's timeout).
    let mut pairs = vec![c.event(|e| e["type"] == "NewCandidatePairSelected").await];
    pairs.extend(c.take_events(|e| e["type"] == "NewCandidatePairSelected"));
    // Rheo's candidates: in its answer, trickled during negotiation and any queued since.
    let mut rheo_candidates = peer.remote_candidates();
    rheo_candidates.extend(
        c.take_events(|e| e["type"] == "IceCandidateFound")
            .iter()
            .filter_map(|e| e["data"]["candidate"]["candidate"].as_str())
            .map(str::to_string),
    );
    let stats = c
        .invoke(&w, "getStats", json!({"mediaType": "VIDEO"}))
        .await["value"]
        .clone();
    let inbound_packets = stats
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
        .filter(|s| s["type"] == "inboundrtp")
        .filter_map(|s| s["packetsReceived"].as_u64())
        .sum::<u64>();
    let frames = peer.frames_received();
    println!(
        "{RESULT}{}",
        json!({
            "colour_ok": colour_ok,
            "last_rgb": peer.mean_rgb_of_last_frame(),
            "frames": frames,
            "inbound_packets": inbound_packets,
            "pairs": pairs,
            "peer_selected": peer.selected_pair().map(|(l, r)| [l, r]),
            "rheo_candidates": rheo_candidates,
            "turn_credentials": turn_credentials,
        })
    );

    // The orchestrator looks at Rheo's sockets now, while media flows, then answers.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        let _ = tx.send(line);
    });
    let go = tokio::task::spawn_blocking(move || rx.recv_timeout(CLIENT_TIMEOUT))
        .await
        .unwrap();
    assert!(go.is_ok(), "no word from the orchestrating test");
    let more_frames = {
        let peer = peer.clone();
        tokio::task::spawn_blocking(move || peer.wait_frames(frames + 30, MEDIA_TIMEOUT))
            .await
            .unwrap()
    };
    let late_pairs = c.take_events(|e| e["type"] == "NewCandidatePairSelected");
    println!(
        "{DONE}{}",
        json!({"more_frames": more_frames, "frames": peer.frames_received(), "late_pairs": late_pairs})
    );
    c.ok("release", json!({"object": p})).await;
    c.close().await;
}

/// TURN credentials from Rheo's `/turn-credentials` (the coturn secret is shared with Rheo);
/// returns the webrtcbin `turn-server` URL (the first UDP `turn:` URI) and the response.
async fn turn_server(server: SocketAddr) -> (String, Value) {
    let (status, body) = http_get(server, "/turn-credentials")
        .await
        .unwrap_or_else(|e| panic!("GET /turn-credentials: {e}"));
    assert_eq!(status, 200, "GET /turn-credentials: {body}");
    let v: Value = serde_json::from_str(&body).expect("credentials JSON");
    let uri = v["uris"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find(|u| u.starts_with("turn:") && !u.contains("transport=tcp"))
        .unwrap_or_else(|| panic!("no UDP turn: URI in {v}"));
    let host = uri.trim_start_matches("turn:").split('?').next().unwrap();
    let user = v["username"].as_str().expect("username");
    let pass = v["credential"].as_str().expect("credential");
    let url = format!(
        "turn://{}:{}@{host}",
        percent_encode(user),
        percent_encode(pass)
    );
    (url, v)
}

/// A plain HTTP/1.1 GET: `(status, body)`.
async fn http_get(server: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let io = async {
        let mut s = tokio::net::TcpStream::connect(server)
            .await
            .map_err(|e| e.to_string())?;
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {server}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(done) = parse_response(&buf) {
                return Ok(done);
            }
            let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return parse_response(&buf)
                    .or_else(|| {
                        let text = String::from_utf8_lossy(&buf);
                        let (head, body) = text.split_once("\r\n\r\n")?;
                        let status = head.split_whitespace().nth(1)?.parse().ok()?;
                        Some((status, body.to_string()))
                    })
                    .ok_or_else(|| "incomplete HTTP response".to_string());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(TIMEOUT, io)
        .await
        .map_err(|_| "HTTP timeout".to_string())?
}

/// A complete response (Content-Length or chunked) in `buf`, if there is one.
fn parse_response(buf: &[u8]) -> Option<(u16, String)> {
    let text = std::str::from_utf8(buf).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
    let header = |name: &str| {
        head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    if let Some(len) = header("content-length").and_then(|l| l.parse::<usize>().ok()) {
        return (body.len() >= len).then(|| (status, body[..len].to_string()));
    }
    if header("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        let mut rest = body;
        let mut out = String::new();
        loop {
            let (size, after) = rest.split_once("\r\n")?;
            let size = usize::from_str_radix(size.trim(), 16).ok()?;
            if size == 0 {
                return Some((status, out));
            }
            out.push_str(after.get(..size)?);
            rest = after.get(size + 2..)?;
        }
    }
    None
}
