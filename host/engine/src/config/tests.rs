use super::*;

const EXAMPLE: &str = include_str!("../../testdata/zoom.toml");

fn errors_of(text: &str) -> Vec<String> {
    match Config::from_toml_str(text) {
        Ok(_) => vec![],
        Err(ConfigErrors(errors)) => errors.iter().map(ToString::to_string).collect(),
    }
}

/// The example with `replace` swapped for `with`, failing the test if `replace` is not there.
fn example_with(replace: &str, with: &str) -> String {
    assert!(EXAMPLE.contains(replace), "example lacks {replace}");
    EXAMPLE.replacen(replace, with, 1)
}

#[test]
fn example_loads_and_matches_plain_serde() {
    let config = Config::from_toml_str(EXAMPLE).expect("example is valid");
    let plain: Config = toml::from_str(EXAMPLE).expect("plain serde");
    assert_eq!(config, plain);
    assert_eq!(config.mappings.len(), 9);
    assert_eq!(config.matching_mappings()[0].target, "userName");
    assert_eq!(config.deprovisioning, DeprovisioningConfig::default());
    assert_eq!(config.quarantine.max_failures, 40_000);
    let license = config.license.as_ref().expect("license");
    let json: serde_json::Value = serde_json::from_str(&license.config_json()).expect("json");
    assert_eq!(json["rules"][1]["add_on"], "phone");
}

#[test]
fn minimal_config_gets_entra_defaults() {
    let text = r#"
        [source]
        kind = "graph"
        tenant_id = "contoso.onmicrosoft.com"
        client_id = "00000000-0000-0000-0000-000000000001"
        client_secret_env = "GRAPH_SECRET"
        [target]
        base_url = "http://127.0.0.1:8080/scim/v2"
        token_env = "TOKEN"
        [[mappings]]
        source = "userPrincipalName"
        target = "userName"
        matching_precedence = 1
    "#;
    let config = Config::from_toml_str(text).expect("valid");
    assert_eq!(config.scope.mode, ScopeMode::Assigned);
    assert_eq!(
        config.deletion_threshold,
        DeletionThresholdConfig::default()
    );
    assert_eq!(config.deletion_threshold.max, 500);
    assert_eq!(config.sync_interval_secs, 2400);
    assert_eq!(config.target.profile_name(), ProfileName::Zoom);
    let SourceConfig::Graph(graph) = &config.source else {
        panic!("graph source")
    };
    assert_eq!(graph.graph_base_url, "https://graph.microsoft.com/v1.0");
}

#[test]
fn graph_signs_in_with_a_secret_or_a_certificate_never_both_nor_neither() {
    let graph = |auth: &str| {
        format!(
            "[source]\nkind = \"graph\"\ntenant_id = \"t\"\nclient_id = \"c\"\n{auth}\n\
             [target]\nbase_url = \"http://127.0.0.1:8080/scim/v2\"\ntoken_env = \"TOKEN\"\n\
             [[mappings]]\nsource = \"userPrincipalName\"\ntarget = \"userName\"\n\
             matching_precedence = 1\n"
        )
    };
    let config = Config::from_toml_str(&graph(
        "certificate_path = \"muster.pem\"\nprivate_key_path = \"muster.key\"",
    ))
    .expect("a certificate alone is enough");
    let SourceConfig::Graph(g) = &config.source else {
        panic!("graph source")
    };
    assert_eq!(g.client_secret_env, None);
    assert_eq!(
        g.private_key_path.as_deref(),
        Some(std::path::Path::new("muster.key"))
    );
    for (auth, error) in [
        (
            "",
            "source.client_secret_env: is required (or certificate_path",
        ),
        (
            "client_secret_env = \"S\"\ncertificate_path = \"muster.pem\"",
            "source.certificate_path: give either client_secret_env or certificate_path",
        ),
        (
            "client_secret_env = \"S\"\nprivate_key_path = \"k.pem\"",
            "source.private_key_path: goes with certificate_path",
        ),
    ] {
        let errors = errors_of(&graph(auth));
        assert!(
            errors.iter().any(|e| e.starts_with(error)),
            "{auth:?}: {errors:?}"
        );
    }
}

#[test]
fn the_target_signs_in_one_way_each_named_when_wrong() {
    let target = |auth: &str| {
        format!(
            "[source]\nkind = \"file\"\npath = \"d.json\"\n\
             [target]\nbase_url = \"https://api.zoom.us/scim2\"\n{auth}\n\
             [[mappings]]\nsource = \"userPrincipalName\"\ntarget = \"userName\"\n\
             matching_precedence = 1\n"
        )
    };
    let zoom = "[target.auth]\nkind = \"oauth_client_credentials\"\nstyle = \"zoom\"\n\
                token_url = \"https://zoom.us/oauth/token\"\nclient_id = \"c\"\n\
                client_secret_env = \"ZOOM_CLIENT_SECRET\"\naccount_id = \"a\"";
    let config = Config::from_toml_str(&target(zoom)).expect("Zoom's Server-to-Server OAuth");
    assert_eq!(config.target.token_env, None);
    assert!(matches!(
        config.target.auth,
        Some(TargetAuthConfig::OauthClientCredentials {
            style: OAuthStyleName::Zoom,
            ..
        })
    ));
    for valid in [
        "token_env = \"TOKEN\"",
        "[target.auth]\nkind = \"bearer\"\ntoken_file = \"/run/secrets/zoom\"",
        "[target.auth]\nkind = \"oauth_client_credentials\"\nstyle = \"rfc6749\"\n\
         token_url = \"https://idp.example/token\"\nclient_id = \"c\"\n\
         client_secret_file = \"secret\"\nscope = \"scim\"",
    ] {
        assert_eq!(errors_of(&target(valid)), Vec::<String>::new(), "{valid}");
    }
    for (auth, error) in [
        ("", "target: says nothing about signing in"),
        (
            "token_env = \"T\"\n[target.auth]\nkind = \"bearer\"\ntoken_env = \"T\"",
            "target.token_env: set either token_env or [target.auth]",
        ),
        (
            "[target.auth]\nkind = \"bearer\"",
            "target.auth: a bearer token comes from exactly one",
        ),
        (
            "[target.auth]\nkind = \"bearer\"\ntoken_env = \"T\"\ntoken_file = \"f\"",
            "target.auth: a bearer token comes from exactly one",
        ),
        (
            &zoom.replace("account_id = \"a\"", ""),
            "target.auth.account_id: style = \"zoom\" needs",
        ),
        (
            &zoom.replace("style = \"zoom\"", "style = \"rfc6749\""),
            "target.auth.account_id: is Zoom's",
        ),
        (
            &zoom.replace("client_secret_env = \"ZOOM_CLIENT_SECRET\"", ""),
            "target.auth: the client secret comes from exactly one",
        ),
        (
            &zoom.replace("\"ZOOM_CLIENT_SECRET\"", "\"the secret\""),
            "target.auth.client_secret_env: must be the name",
        ),
        (
            &zoom.replace("https://zoom.us/oauth/token", "zoom.us/oauth/token"),
            "target.auth.token_url:",
        ),
        (
            &zoom.replace("kind = \"oauth_client_credentials\"", "kind = \"jwt\""),
            "target.auth.kind: unknown variant `jwt`",
        ),
        (
            &format!("{zoom}\nclient_secret = \"inline\""),
            "target.auth: unknown field `client_secret`",
        ),
    ] {
        let errors = errors_of(&target(auth));
        assert!(
            errors.iter().any(|e| e.starts_with(error)),
            "{auth:?}: {errors:?}"
        );
    }
}

#[test]
fn each_mistake_is_reported_with_its_location() {
    // (replace, with, expected error prefix)
    let cases: &[(&str, &str, &str)] = &[
        (
            "target = \"name.givenName\"",
            "target = \"name..givenName\"",
            "mappings[3].target: invalid SCIM path",
        ),
        (
            "token_env = \"ZOOM_SCIM_TOKEN\"",
            "token = \"abc\"",
            "target.token: unknown field `token`",
        ),
        (
            "token_env = \"ZOOM_SCIM_TOKEN\"",
            "token_env = \"sk-live abc\"",
            "target.token_env: must be the name",
        ),
        (
            "operator = \"ENDS_WITH\"",
            "operator = \"STARTS_WITH\"",
            "scope.filters[0].clauses[0].operator: unknown variant",
        ),
        (
            "operator = \"ENDS_WITH\", value = \"@example.com\"",
            "operator = \"REGEX MATCH\", value = \"(\"",
            "scope.filters[0].clauses[0].value: invalid regular",
        ),
        (
            "operator = \"NOT EQUALS\", value = \"Guest\"",
            "operator = \"IS NULL\", value = \"x\"",
            "scope.filters[0].clauses[1].value: `IS NULL` takes no value",
        ),
        (
            "operator = \"NOT EQUALS\", value = \"Guest\"",
            "operator = \"Greater_Than\", value = \"x\"",
            "scope.filters[0].clauses[1].value: `Greater_Than` compares integers",
        ),
        (
            "apply = \"on_create\"",
            "apply = \"sometimes\"",
            "mappings[8].apply: unknown variant",
        ),
        (
            "source = \"mail\"",
            "source = \"mail\"\nconstant = \"x\"",
            "mappings[1]: give either",
        ),
        (
            "target = \"displayName\"",
            "target = \"userName\"",
            "mappings[5].target: `userName` is already mapped by mappings[0]",
        ),
        (
            "matching_precedence = 1",
            "",
            "mappings: no mapping has `matching_precedence`",
        ),
        (
            "path = \"plugins/normalize_attributes.wasm\"",
            "path = \"n.so\"",
            "transforms[0].path: `n.so` is not a .wasm file",
        ),
        (
            "name = \"license-by-group\"",
            "name = \"normalize-attributes\"",
            "license.name: plugin name",
        ),
        (
            "name = \"license-by-group\"",
            "name = \"../license\"",
            "license.name: `../license` may hold only ASCII letters",
        ),
        (
            "timeout_ms = 50",
            "timeout_ms = 0",
            "transforms[0].limits.timeout_ms: must be greater than 0",
        ),
        (
            "max = 5",
            "max = 0",
            "deletion_threshold.max: must be at least 1",
        ),
        (
            "failure_ratio = 0.4",
            "failure_ratio = 1.5",
            "quarantine.failure_ratio",
        ),
        (
            "kind = \"file\"",
            "kind = \"ldap\"",
            "source.kind: unknown variant `ldap`",
        ),
        (
            "sync_interval_secs = 2400",
            "sync_interval_secs = 2400\nsync_every = 3",
            "sync_every: unknown key",
        ),
        (
            "sync_interval_secs = 2400",
            "sync_interval_secs = 2400\nbatch_people = 0",
            "batch_people: must be at least 1",
        ),
        (
            "base_url = \"https://api.zoom.us/scim2\"",
            "base_url = \"api.zoom.us\"",
            "target.base_url: `api.zoom.us` is not",
        ),
        (
            "\"urn:ietf:params:scim:schemas:extension:zoom:1.0:User:zoomWebinar\"",
            "\"urn:bad\"",
            "profile.add_ons.webinar.held.\"urn:bad\": invalid SCIM path",
        ),
        ("[target]", "[target\n", "line "),
    ];
    for (replace, with, expected) in cases {
        let errors = errors_of(&example_with(replace, with));
        assert!(
            errors.iter().any(|e| e.starts_with(expected)),
            "expected `{expected}` among {errors:#?}"
        );
    }
}

#[test]
fn errors_in_several_sections_come_together() {
    let text = example_with("token_env = \"ZOOM_SCIM_TOKEN\"", "token = \"x\"")
        .replacen("apply = \"on_create\"", "apply = \"later\"", 1)
        .replacen("kind = \"file\"", "kind = \"ldap\"", 1);
    assert_eq!(errors_of(&text).len(), 3, "{:#?}", errors_of(&text));
    let text = example_with("max = 5", "max = 0").replacen("concurrency = 4", "concurrency = 0", 1);
    let errors = errors_of(&text);
    assert_eq!(errors.len(), 2, "{errors:#?}");
    let display = Config::from_toml_str(&text)
        .expect_err("invalid")
        .to_string();
    assert!(
        display.starts_with("2 problems in the configuration:"),
        "{display}"
    );
}

#[test]
fn scim_paths() {
    let ok = [
        "userName",
        "name.givenName",
        "emails[type eq \"work\"].value",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        "urn:ietf:params:scim:schemas:extension:zoom:1.0:User:zoomPhoneCallingPlan",
    ];
    for path in ok {
        assert_eq!(check_scim_path(path), Ok(()), "{path}");
    }
    for path in [
        "",
        "1abc",
        "name.",
        "emails[].value",
        "emails[type eq \"x\"]x",
        "urn:x",
        "a b",
    ] {
        assert!(check_scim_path(path).is_err(), "{path}");
    }
}

#[test]
fn gateway_source_and_section_come_together() {
    let gateway = example_with(
        "kind = \"file\"\npath = \"directory.json\"",
        "kind = \"gateway\"",
    );
    let errors = errors_of(&gateway);
    assert!(
        errors.iter().any(|e| e.starts_with("gateway: missing")),
        "{errors:#?}"
    );
    let config = Config::from_toml_str(&format!("{gateway}\n[gateway]\n")).expect("valid");
    assert!(config.is_gateway());
    let section = config.gateway.expect("gateway section");
    assert_eq!(section.token_env, "MUSTER_SCIM_TOKEN");
    assert_eq!(section.max_body_bytes, 1 << 20);
    assert_eq!(config.server.listen, "127.0.0.1:8080");

    let errors = errors_of(&format!("{EXAMPLE}\n[gateway]\n"));
    assert!(
        errors.iter().any(|e| e.starts_with("gateway: only for")),
        "{errors:#?}"
    );
    let bad = format!(
        "{gateway}\n[gateway]\ntoken_env = \"not a name\"\nmax_body_bytes = 10\n\
         [server]\nlisten = \"everywhere\"\n"
    );
    let errors = errors_of(&bad);
    for expected in [
        "gateway.token_env",
        "gateway.max_body_bytes",
        "server.listen",
    ] {
        assert!(
            errors.iter().any(|e| e.starts_with(expected)),
            "expected {expected} among {errors:#?}"
        );
    }
}

#[test]
fn server_and_admin_sections_default_and_validate() {
    let config = Config::from_toml_str(EXAMPLE).expect("example is valid");
    assert_eq!(config.server.listen, "127.0.0.1:8080");
    assert_eq!(config.server.plugins_dir, None);
    assert_eq!(config.admin.token_env, "MUSTER_ADMIN_TOKEN");
    assert_eq!(config.server.request_timeout_secs, 60);
    let text = format!(
        "{EXAMPLE}\n[server]\nlisten = \"0.0.0.0:9000\"\nplugins_dir = \"plugins\"\n\
         probe_interval_secs = 5\n[admin]\ntoken_env = \"OPS_TOKEN\"\n"
    );
    let config = Config::from_toml_str(&text).expect("valid");
    assert_eq!(config.server.listen_addr().map(|a| a.port()), Ok(9000));
    assert_eq!(config.admin.token_env, "OPS_TOKEN");
    let text = format!(
        "{EXAMPLE}\n[server]\nlisten = \"localhost\"\nprobe_interval_secs = 0\n\
         request_timeout_secs = 0\n[admin]\ntoken_env = \"s3cr3t-value!\"\n"
    );
    let errors = errors_of(&text);
    for expected in [
        "server.listen",
        "server.probe_interval_secs",
        "server.request_timeout_secs",
        "admin.token_env",
    ] {
        assert!(
            errors.iter().any(|e| e.starts_with(expected)),
            "expected `{expected}` among {errors:#?}"
        );
    }
}

#[test]
fn plugin_inputs_default_to_everything_and_validate() {
    let config = Config::from_toml_str(EXAMPLE).expect("example is valid");
    let license = config.license.as_ref().expect("license");
    assert!(license.inputs.is_everything());

    let declared = example_with(
        "name = \"license-by-group\"",
        "name = \"license-by-group\"\ninputs = { attributes = [\"Department\"], groups = \"transitive\", target = [] }",
    );
    let config = Config::from_toml_str(&declared).expect("inputs are valid");
    let inputs = &config.license.as_ref().expect("license").inputs;
    assert_eq!(
        inputs.attributes.as_deref(),
        Some(&["Department".to_string()][..])
    );
    assert_eq!(inputs.groups, GroupInputs::Transitive);
    assert_eq!(inputs.target.as_deref(), Some(&[][..]));
    assert!(!inputs.is_everything());
    assert_eq!(
        inputs.describe().as_deref(),
        Some("attributes Department; transitive groups; target none")
    );
    let prefixed = PluginInputs {
        groups: GroupInputs::Direct,
        group_prefixes: Some(vec!["Zoom-".into(), "Dept-".into()]),
        ..PluginInputs::default()
    };
    assert_eq!(
        prefixed.describe().as_deref(),
        Some("direct groups named Zoom-*, Dept-*")
    );
    assert_eq!(PluginInputs::default().describe(), None);

    let empty = example_with(
        "name = \"license-by-group\"",
        "name = \"license-by-group\"\ninputs = { attributes = [\"mail\", \" \"] }",
    );
    assert_eq!(
        errors_of(&empty),
        ["license.inputs.attributes[1]: must not be empty"]
    );
    let unknown = example_with(
        "name = \"license-by-group\"",
        "name = \"license-by-group\"\ninputs = { groups = \"nested\" }",
    );
    let errors = errors_of(&unknown);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("nested") && errors[0].contains("transitive"),
        "{errors:?}"
    );
}

#[test]
fn a_source_that_shrank_too_much_is_refused() {
    let guard = DeletionThresholdConfig::default();
    assert_eq!(
        guard.source_shrink(100, 60, 90),
        None,
        "40 % is within 50 %"
    );
    let why = guard.source_shrink(100, 40, 90).expect("60 % is over 50 %");
    assert!(why.contains("from 100 to 40"), "{why}");
    let why = guard
        .source_shrink(0, 0, 3)
        .expect("empty while people are provisioned");
    assert!(why.contains("no people"), "{why}");
    assert_eq!(guard.source_shrink(0, 0, 0), None, "a first, empty read");
    let off = DeletionThresholdConfig {
        enabled: false,
        ..DeletionThresholdConfig::default()
    };
    assert_eq!(off.source_shrink(100, 0, 100), None);
    let errors = errors_of(&example_with(
        "[deletion_threshold]\nenabled = true\nmax = 5\n",
        "[deletion_threshold]\nmax_percent = 0\nmax_source_shrink_percent = 120\n",
    ));
    let text = errors.join("\n");
    assert!(text.contains("deletion_threshold.max_percent"), "{text}");
    assert!(
        text.contains("deletion_threshold.max_source_shrink_percent"),
        "{text}"
    );
}

#[test]
fn rate_classes_validate_with_their_locations_and_resolve() {
    use RequestKind::*;
    let resolve = |text: &str| {
        let config = Config::from_toml_str(text).expect("valid");
        let profile = crate::profile::TargetProfile::new(
            config.target.profile_name(),
            config.profile.as_ref(),
        );
        let classes: Vec<(String, f64, Vec<RequestKind>)> = config
            .rate_classes(&profile.data)
            .into_iter()
            .map(|(name, class)| (name, class.per_second, class.requests))
            .collect();
        (classes, config.target.default_rate())
    };
    let class = |name: &str, rate: f64, requests: &[RequestKind]| {
        (name.to_string(), rate, requests.to_vec())
    };
    let light = [Get, Create, Replace, Patch, Delete];
    // A job that sets one rate keeps it for everything, as before there were classes.
    assert_eq!(resolve(EXAMPLE), (vec![], 10.0));
    // Left out: Zoom's classes.
    let unset = example_with("rate_limit_per_second = 10\n", "");
    assert_eq!(
        resolve(&unset),
        (
            vec![class("light", 30.0, &light), class("medium", 20.0, &[List])],
            DEFAULT_RATE_LIMIT
        )
    );
    // A class without requests changes a built-in's rate; a kind named moves to its new class.
    let changed = format!(
        "{unset}\n[profile.rate_classes]\nlight = {{ per_second = 80 }}\nreads = {{ per_second = 5, requests = [\"get\"] }}\n"
    );
    assert_eq!(
        resolve(&changed).0,
        [
            class("light", 80.0, &[Create, Replace, Patch, Delete]),
            class("medium", 20.0, &[List]),
            class("reads", 5.0, &[Get]),
        ]
    );
    // With one rate set, only the classes the job names.
    let named = format!("{EXAMPLE}\n[profile.rate_classes.medium]\nper_second = 60\n");
    assert_eq!(
        resolve(&named),
        (vec![class("medium", 60.0, &[List])], 10.0)
    );

    let wrong = format!(
        "{EXAMPLE}\n[profile.rate_classes]\nlight = {{ per_second = 0 }}\nheavy = {{ per_second = 1 }}\n\
         both = {{ per_second = 1, requests = [\"get\", \"list\"] }}\n\
         again = {{ per_second = 1, requests = [\"get\", \"get\"] }}\n"
    );
    let errors = errors_of(&wrong);
    for expected in [
        "profile.rate_classes.again.requests: names `get` twice",
        "profile.rate_classes.both.requests: `get` is also in class `again`: a request has one rate",
        "profile.rate_classes.heavy.requests: missing: the built-in profile has no class of this name",
        "profile.rate_classes.light.per_second: must be a positive number",
    ] {
        assert!(
            errors.iter().any(|e| e.starts_with(expected)),
            "{expected} in {errors:#?}"
        );
    }
    assert_eq!(errors.len(), 4, "{errors:#?}");
    let unknown =
        format!("{EXAMPLE}\n[profile.rate_classes.x]\nper_second = 1\nrequests = [\"search\"]\n");
    assert!(
        errors_of(&unknown)
            .iter()
            .any(|e| e.starts_with("profile.rate_classes.x.requests[0]: unknown variant `search`")),
        "{:?}",
        errors_of(&unknown)
    );
    assert!(
        errors_of(&example_with(
            "rate_limit_per_second = 10",
            "rate_limit_per_second = -1"
        ))
        .iter()
        .any(|e| e.starts_with("target.rate_limit_per_second: must be a positive number"))
    );
}

#[test]
fn alerts_name_what_is_wrong_and_default_the_rest() {
    let ok = format!("{EXAMPLE}\n[alerts]\nwebhook_url = \"https://hooks.example.com/x\"\n");
    let config = Config::from_toml_str(&ok).expect("valid");
    let alerts = config.alerts.expect("alerts");
    assert_eq!(
        (alerts.resend_minutes, alerts.failure_percent, alerts.format),
        (60, 10, AlertFormat::Json)
    );
    let bad = format!(
        "{EXAMPLE}\n[alerts]\nwebhook_url = \"hooks.example.com\"\nresend_minutes = 0\n\
         failure_percent = 101\nformat = \"pager\"\n"
    );
    let errors = errors_of(&bad);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("alerts.format"), "{errors:?}");
    let bad = format!(
        "{EXAMPLE}\n[alerts]\nwebhook_url = \"hooks.example.com\"\nresend_minutes = 0\n\
         failure_percent = 101\n"
    );
    assert_eq!(
        errors_of(&bad),
        [
            "alerts.webhook_url: `hooks.example.com` is not an http:// or https:// URL",
            "alerts.resend_minutes: must be at least 1",
            "alerts.failure_percent: is a share of the people planned: at most 100",
        ]
    );
}

#[test]
fn alerts_by_email_need_addresses_and_never_a_password_in_clear() {
    let ok = format!(
        "{EXAMPLE}\n[alerts]\n[alerts.email]\nsmtp_host = \"smtp.example.com\"\n\
         username = \"muster\"\npassword_env = \"MUSTER_SMTP_PASSWORD\"\n\
         from = \"muster <muster@example.com>\"\nto = [\"ops@example.com\"]\n"
    );
    let config = Config::from_toml_str(&ok).expect("valid");
    let email = config.alerts.and_then(|a| a.email).expect("e-mail");
    assert_eq!(
        (email.security, email.port()),
        (SmtpSecurity::Starttls, 587)
    );
    assert_eq!(
        errors_of(&format!("{EXAMPLE}\n[alerts]\nresend_minutes = 5\n")),
        ["alerts.webhook_url: is needed, or `[alerts.email]`: alerts must go somewhere"]
    );
    let bad = format!(
        "{EXAMPLE}\n[alerts]\n[alerts.email]\nsmtp_host = \"smtp.example.com\"\n\
         security = \"none\"\nusername = \"muster\"\nfrom = \"muster\"\nto = [\"ops\"]\n"
    );
    assert_eq!(
        errors_of(&bad),
        [
            "alerts.email.from: `muster` is not an e-mail address",
            "alerts.email.to[0]: `ops` is not an e-mail address",
            "alerts.email.password_env: is needed with `username`: the variable holding the password",
            "alerts.email.security: `none` would send the password in clear: use `starttls` or `tls`",
        ]
    );
}
