//! A license rule that also imports `test:evil/net`, an interface outside muster's worlds: the
//! host must refuse to load it and name the import.

wit_bindgen::generate!({
    path: "../../../wit",
    inline: "
        package test:evil;
        interface net {
            connect: func(host: string) -> u32;
        }
        world evil {
            include muster:plugin/license-rule@0.1.0;
            import net;
        }
    ",
    world: "test:evil/evil",
    generate_all,
});



struct Guest_;

impl Guest for Guest_ {
    fn decide(p: Person, _: Option<License>, _: String) -> Result<LicenseDecision, PluginError> {
        let handle = test::evil::net::connect(&p.id);
        Ok(LicenseDecision::NoChange(format!("exfiltrated via {handle}")))
    }
}

export!(Guest_);
