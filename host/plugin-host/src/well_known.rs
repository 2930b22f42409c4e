//! Interface 0.2.0's `well-known` target attributes and the SCIM paths they stand for
//! (RFC 7643 §4.1 core User, §4.3 enterprise extension). Sending a case number instead of the
//! path string is most of what 0.2.0 saves a JavaScript guest, whose glue measures every string
//! one character at a time.

use crate::bindings::v0_2::wit::WellKnown;

/// Every case with its path, in the WIT's order.
const PATHS: [(WellKnown, &str); 26] = [
    (WellKnown::UserName, "userName"),
    (WellKnown::DisplayName, "displayName"),
    (WellKnown::NickName, "nickName"),
    (WellKnown::Title, "title"),
    (WellKnown::GivenName, "name.givenName"),
    (WellKnown::FamilyName, "name.familyName"),
    (WellKnown::MiddleName, "name.middleName"),
    (WellKnown::FormattedName, "name.formatted"),
    (WellKnown::HonorificPrefix, "name.honorificPrefix"),
    (WellKnown::HonorificSuffix, "name.honorificSuffix"),
    (WellKnown::WorkEmail, r#"emails[type eq "work"].value"#),
    (
        WellKnown::WorkPhone,
        r#"phoneNumbers[type eq "work"].value"#,
    ),
    (
        WellKnown::MobilePhone,
        r#"phoneNumbers[type eq "mobile"].value"#,
    ),
    (WellKnown::FaxPhone, r#"phoneNumbers[type eq "fax"].value"#),
    (
        WellKnown::HomePhone,
        r#"phoneNumbers[type eq "home"].value"#,
    ),
    (
        WellKnown::PagerPhone,
        r#"phoneNumbers[type eq "pager"].value"#,
    ),
    (
        WellKnown::OtherPhone,
        r#"phoneNumbers[type eq "other"].value"#,
    ),
    (WellKnown::UserType, "userType"),
    (WellKnown::PreferredLanguage, "preferredLanguage"),
    (WellKnown::Locale, "locale"),
    (WellKnown::Timezone, "timezone"),
    (
        WellKnown::Department,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
    ),
    (
        WellKnown::EmployeeNumber,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
    ),
    (
        WellKnown::CostCenter,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter",
    ),
    (
        WellKnown::Organization,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organization",
    ),
    (
        WellKnown::Division,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division",
    ),
];

/// The case a SCIM path stands for, compared ASCII case-insensitively as SCIM compares
/// attribute names (RFC 7643 §2.1).
pub(crate) fn case_of(path: &str) -> Option<WellKnown> {
    PATHS
        .iter()
        .find(|(_, p)| p.len() == path.len() && p.eq_ignore_ascii_case(path))
        .map(|(w, _)| *w)
}

/// The SCIM path of a case.
pub(crate) fn path_of(case: WellKnown) -> &'static str {
    PATHS[case as usize].1
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:";

    #[test]
    fn every_case_round_trips_through_its_path() {
        for (i, (case, path)) in PATHS.iter().enumerate() {
            assert_eq!(*case as usize, i, "{path} out of the WIT's order");
            assert_eq!(path_of(*case), *path);
            assert_eq!(case_of(path), Some(*case));
            assert_eq!(case_of(&path.to_uppercase()), Some(*case), "{path}");
        }
        assert!(
            PATHS
                .iter()
                .filter(|(_, p)| p.starts_with("urn:"))
                .all(|(_, p)| p.starts_with(ENTERPRISE))
        );
        assert_eq!(case_of("name.given"), None);
        assert_eq!(
            case_of("urn:ietf:params:scim:schemas:extension:zoom:2.0:User:loginType"),
            None
        );
    }
}
