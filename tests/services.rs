//! Services as a user meets them through the real kubectl: a cluster IP from 10.43.0.0/16 and
//! node ports from 30000-32767 for every new Service (from YAML, from `kubectl create service`'s
//! protobuf body, from `kubectl expose`), never the same one twice even under concurrent
//! creates, given back on delete and on type changes, and errors worded as a 1.33 apiserver
//! words them.
mod common;
use common::*;

use std::collections::HashSet;
use std::net::Ipv4Addr;

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

fn create(s: &Server, manifest: &str) -> String {
    s.ok_stdin(&["create", "-f", "-", "--validate=false"], manifest)
}

/// `kubectl create -f -` that must fail; returns its stderr.
fn create_fails(s: &Server, manifest: &str) -> String {
    let out = s.kubectl_at(KUBECTL, &["create", "-f", "-", "--validate=false"], Some(manifest));
    assert!(!out.status.success(), "unexpectedly created: {}", String::from_utf8_lossy(&out.stdout));
    stderr_of(&out)
}

fn in_service_cidr(ip: &str) -> bool {
    let ip: Ipv4Addr = ip.parse().unwrap_or_else(|_| panic!("{ip:?} is not an IPv4 address"));
    ip.octets()[..2] == [10, 43] && ip != Ipv4Addr::new(10, 43, 0, 0) && ip != Ipv4Addr::new(10, 43, 255, 255)
}

/// The node port in a PORT(S) cell such as "80:31234/TCP".
fn node_port_of(cell: &str) -> u16 {
    let (_, rest) = cell.split_once(':').unwrap_or_else(|| panic!("no node port in {cell:?}"));
    rest.trim_end_matches("/TCP").parse().unwrap_or_else(|_| panic!("bad node port in {cell:?}"))
}

fn service_yaml(name: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  selector:\n    app: {name}\n  ports:\n  - port: 80\n{extra_spec}"
    )
}

const WEB_DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        ports:
        - containerPort: 80
"#;

#[test]
fn get_svc_wide_shows_the_type_cluster_ip_ports_and_selector() {
    let s = Server::start();
    assert_eq!(create(&s, &service_yaml("web", "")), "service/web created\n");
    let out = s.ok(&["get", "svc", "web", "-o", "wide"]);
    let r = rows(&out);
    assert_eq!(r[0], ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"], "{out}");
    assert_eq!(r[1][..2], ["web", "ClusterIP"], "{out}");
    assert!(in_service_cidr(&r[1][2]), "{out}");
    assert_eq!(r[1][3..5], ["<none>", "80/TCP"], "{out}");
    assert_eq!(r[1][6], "app=web", "{out}");

    // The defaults a 1.33 apiserver fills in.
    let spec = s.ok(&[
        "get",
        "svc",
        "web",
        "-o",
        "jsonpath={.spec.clusterIPs[0]} {.spec.ports[0].protocol} {.spec.ports[0].targetPort} {.spec.sessionAffinity} \
         {.spec.ipFamilies[0]} {.spec.ipFamilyPolicy} {.spec.internalTrafficPolicy}",
    ]);
    assert_eq!(spec, format!("{} TCP 80 None IPv4 SingleStack Cluster", r[1][2]));

    // kubectl 1.32 sends `create service` as protobuf, with Go's zero values in it.
    assert_eq!(s.ok(&["create", "service", "clusterip", "pb", "--tcp=8080:80"]), "service/pb created\n");
    let out = s.ok(&["get", "svc", "pb", "-o", "wide"]);
    let r = rows(&out);
    assert_eq!(r[1][1], "ClusterIP", "{out}");
    assert!(in_service_cidr(&r[1][2]), "{out}");
    assert_eq!(r[1][4], "8080/TCP", "{out}");
    assert_eq!(r[1][6], "app=pb", "{out}");

    // NodePort services print "port:nodePort/protocol".
    assert_eq!(s.ok(&["create", "service", "nodeport", "np", "--tcp=80:8080"]), "service/np created\n");
    create(&s, &service_yaml("np2", "  type: NodePort\n"));
    for name in ["np", "np2"] {
        let out = s.ok(&["get", "svc", name]);
        let r = rows(&out);
        assert_eq!(r[1][1], "NodePort", "{out}");
        let port = node_port_of(&r[1][4]);
        assert!((30000..=32767).contains(&port), "{out}");
        assert!(r[1][4].starts_with("80:") && r[1][4].ends_with("/TCP"), "{out}");
        let etp = s.ok(&["get", "svc", name, "-o", "jsonpath={.spec.externalTrafficPolicy}"]);
        assert_eq!(etp, "Cluster");
    }

    // The apiserver's own Service keeps the first address.
    let out = s.ok(&["get", "svc", "kubernetes"]);
    assert_eq!(rows(&out)[1][..5], ["kubernetes", "ClusterIP", "10.43.0.1", "<none>", "443/TCP"], "{out}");
}

#[test]
fn twenty_services_created_at_once_get_distinct_ips() {
    let s = Server::start();
    let outputs: Vec<std::process::Output> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let s = &s;
                scope.spawn(move || {
                    let name = format!("svc-{i:02}");
                    s.kubectl(&["create", "service", "nodeport", name.as_str(), "--tcp=80:80"])
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("kubectl thread")).collect()
    });
    for out in &outputs {
        assert!(out.status.success(), "{}", stderr_of(out));
    }
    let out = s.ok(&[
        "get",
        "svc",
        "-o",
        "jsonpath={range .items[*]}{.spec.clusterIP} {.spec.ports[0].nodePort}{\"\\n\"}{end}",
    ]);
    let lines: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 21, "20 services and kubernetes: {out}");
    let mut ips = HashSet::new();
    let mut ports = HashSet::new();
    for line in lines {
        let mut cells = line.split(' ');
        let ip = cells.next().unwrap();
        assert!(in_service_cidr(ip), "{out}");
        assert!(ips.insert(ip.to_string()), "{ip} handed out twice: {out}");
        if let Some(port) = cells.next().filter(|p| !p.is_empty()) {
            assert!(ports.insert(port.to_string()), "node port {port} handed out twice: {out}");
        }
    }
    assert_eq!(ports.len(), 20, "{out}");
}

#[test]
fn a_deleted_service_gives_its_ip_and_node_port_back() {
    let s = Server::start();
    let first = service_yaml("first", "  type: NodePort\n  clusterIP: 10.43.77.77\n")
        .replace("  - port: 80\n", "  - port: 80\n    nodePort: 31000\n");
    create(&s, &first);
    let out = s.ok(&["get", "svc", "first"]);
    assert_eq!(rows(&out)[1][2..5], ["10.43.77.77", "<none>", "80:31000/TCP"], "{out}");

    let second = first.replace("name: first", "name: second").replace("app: first", "app: second");
    assert_eq!(
        create_fails(&s, &second),
        r#"The Service "second" is invalid: spec.clusterIPs: Invalid value: []string{"10.43.77.77"}: failed to allocate IP 10.43.77.77: provided IP is already allocated"#
    );
    let other_ip = second.replace("10.43.77.77", "10.43.77.78");
    assert_eq!(
        create_fails(&s, &other_ip),
        r#"The Service "second" is invalid: spec.ports[0].nodePort: Invalid value: 31000: provided port is already allocated"#
    );
    // The failed attempt did not keep 10.43.77.78.
    create(&s, &service_yaml("probe", "  clusterIP: 10.43.77.78\n"));
    s.ok(&["delete", "svc", "probe"]);

    assert_eq!(s.ok(&["delete", "svc", "first"]), "service \"first\" deleted\n");
    assert_eq!(create(&s, &second), "service/second created\n");
    let out = s.ok(&["get", "svc", "second"]);
    assert_eq!(rows(&out)[1][2..5], ["10.43.77.77", "<none>", "80:31000/TCP"], "{out}");
}

#[test]
fn requested_values_out_of_range_are_rejected_as_upstream_words_it() {
    let s = Server::start();
    assert_eq!(
        create_fails(&s, &service_yaml("far", "  clusterIP: 10.99.0.1\n")),
        r#"The Service "far" is invalid: spec.clusterIPs: Invalid value: []string{"10.99.0.1"}: failed to allocate IP 10.99.0.1: the provided network does not match the current range"#
    );
    assert_eq!(
        create_fails(&s, &service_yaml("net", "  clusterIP: 10.43.0.0\n")),
        r#"The Service "net" is invalid: spec.clusterIPs: Invalid value: []string{"10.43.0.0"}: failed to allocate IP 10.43.0.0: the provided IP (10.43.0.0) is not in the valid range. The range of valid IPs is 10.43.0.0/16"#
    );
    assert_eq!(
        create_fails(&s, &service_yaml("taken", "  clusterIP: 10.43.0.1\n")),
        r#"The Service "taken" is invalid: spec.clusterIPs: Invalid value: []string{"10.43.0.1"}: failed to allocate IP 10.43.0.1: provided IP is already allocated"#
    );
    let low = service_yaml("low", "  type: NodePort\n").replace("  - port: 80\n", "  - port: 80\n    nodePort: 8080\n");
    assert_eq!(
        create_fails(&s, &low),
        r#"The Service "low" is invalid: spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the valid range. The range of valid ports is 30000-32767"#
    );
    let bad_port = service_yaml("badport", "").replace("  - port: 80\n", "  - port: 70000\n    targetPort: 80\n");
    assert_eq!(
        create_fails(&s, &bad_port),
        r#"The Service "badport" is invalid: spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive"#
    );
    // Cluster DNS's address is never handed out on its own, but may be asked for.
    create(&s, &service_yaml("kube-dns", "  clusterIP: 10.43.0.10\n"));
    assert_eq!(s.ok(&["get", "svc", "kube-dns", "-o", "jsonpath={.spec.clusterIP}"]), "10.43.0.10");
}

#[test]
fn cluster_ips_are_immutable_and_type_changes_release_node_ports() {
    let s = Server::start();
    create(&s, &service_yaml("web", "  type: NodePort\n"));
    let ip = s.ok(&["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]);
    let out = s.kubectl(&["patch", "svc", "web", "-p", r#"{"spec":{"clusterIP":"10.43.9.9"}}"#]);
    assert!(!out.status.success());
    assert_eq!(
        stderr_of(&out),
        r#"The Service "web" is invalid: spec.clusterIPs[0]: Invalid value: []string{"10.43.9.9"}: may not change once set"#
    );

    // A replace of the original manifest keeps the allocated IP and node port.
    let port = node_port_of(&rows(&s.ok(&["get", "svc", "web"]))[1][4]);
    s.ok_stdin(&["replace", "-f", "-", "--validate=false"], &service_yaml("web", "  type: NodePort\n"));
    let out = s.ok(&["get", "svc", "web"]);
    assert_eq!(rows(&out)[1][2], ip, "{out}");
    assert_eq!(node_port_of(&rows(&out)[1][4]), port, "{out}");

    // Back to ClusterIP: the node port goes back and another service may ask for it.
    s.ok(&["patch", "svc", "web", "-p", r#"{"spec":{"type":"ClusterIP"}}"#]);
    let out = s.ok(&["get", "svc", "web"]);
    assert_eq!(rows(&out)[1][1..5], ["ClusterIP", ip.as_str(), "<none>", "80/TCP"], "{out}");
    let claim = service_yaml("claim", "  type: NodePort\n")
        .replace("  - port: 80\n", &format!("  - port: 80\n    nodePort: {port}\n"));
    create(&s, &claim);
    assert_eq!(rows(&s.ok(&["get", "svc", "claim"]))[1][4], format!("80:{port}/TCP"));
}

#[test]
fn kubectl_expose_makes_a_node_port_service_for_a_deployment() {
    let s = Server::start();
    assert_eq!(create(&s, WEB_DEPLOYMENT), "deployment.apps/web created\n");
    assert_eq!(s.ok(&["expose", "deployment", "web", "--port=80", "--type=NodePort"]), "service/web exposed\n");
    let out = s.ok(&["get", "svc", "web", "-o", "wide"]);
    let r = rows(&out);
    assert_eq!(r[1][1], "NodePort", "{out}");
    assert!(in_service_cidr(&r[1][2]), "{out}");
    assert!((30000..=32767).contains(&node_port_of(&r[1][4])), "{out}");
    assert_eq!(r[1][6], "app=web", "{out}");
}
