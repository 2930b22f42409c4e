//! Zoom's two User extensions (<https://developers.zoom.us/docs/api/scim2/>). Value formats of
//! the licence strings are not confirmed, so they are plain strings; add-ons are booleans.

use super::{AttrType, Attribute, Schema};
use crate::resource::{ZOOM_LOGIN_SCHEMA, ZOOM_USER_SCHEMA};

static LOGIN_TYPE_SUBS: [Attribute; 2] =
    [Attribute::boolean("workEmail"), Attribute::boolean("sso")];

static ZOOM_LOGIN_ATTRS: [Attribute; 1] = [Attribute::complex("loginType", &LOGIN_TYPE_SUBS)
    .doc("At least one of workEmail and sso must be true (Okta's Zoom notes).")];

pub static ZOOM_LOGIN: Schema = Schema {
    id: ZOOM_LOGIN_SCHEMA,
    name: "ZoomUser",
    description: "Zoom login types",
    attributes: &ZOOM_LOGIN_ATTRS,
};

const fn s(name: &'static str) -> Attribute {
    Attribute::string(name)
}
const fn b(name: &'static str) -> Attribute {
    Attribute::boolean(name)
}

static ZOOM_USER_ATTRS: [Attribute; 37] = [
    s("personalLinkName"),
    s("pronouns"),
    s("zoomUnited"),
    s("zoomOneBizPlus"),
    s("zoomOneEntPremier"),
    s("zoomOneEdu"),
    s("zoomOneEduEntPremier"),
    s("zoomOneSchoolCampusPlus"),
    s("zoomContactCenterPackage"),
    s("zoomContactCenterUserTemplate"),
    s("zoomContactCenterAddonsPlan"),
    b("zoomIQ"),
    b("zoomCustomerManagedKey"),
    b("zoomWhiteboard"),
    b("zoomWhiteboardPlus"),
    b("zoomTranslatedCaptions"),
    b("zoomHuddles"),
    b("zoomQualityManagement"),
    b("zoomWorkforceManagement"),
    b("zoomScheduler"),
    b("zoomClipsPlus"),
    b("zoomRevenueAccelerator"),
    b("zoomComplianceManagement"),
    b("zoomDocs"),
    b("clinicalNotes"),
    b("zoomCustomAICompanion"),
    b("zoomAICompanionSubscription"),
    b("zoomAutoDialer"),
    b("zoomEnhancedMedia"),
    b("zoomAdvancedDataProtection"),
    b("zoomMailAndCalendar"),
    b("visitorManagement"),
    Attribute::new("zoomPhoneExtNumber", AttrType::Integer).doc("0 asks Zoom to auto-assign."),
    s("zoomPhoneSite"),
    s("zoomPhoneCallingPlan"),
    s("zoomPhoneNumber"),
    b("zoomPhone"),
];

pub static ZOOM_USER: Schema = Schema {
    id: ZOOM_USER_SCHEMA,
    name: "ZoomUserExtension",
    description: "Zoom licences, add-ons and profile",
    attributes: &ZOOM_USER_ATTRS,
};
