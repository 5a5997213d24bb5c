//! Account types and the SHARED-account access rule, as one pure function.

use serde::{Deserialize, Serialize};

/// PRIVATE accounts serve only their user; SHARED ones may serve others when pinned and allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum AccountType {
    #[default]
    Private,
    Shared,
}

impl AccountType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Private => "PRIVATE",
            Self::Shared => "SHARED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "PRIVATE" => Some(Self::Private),
            "SHARED" => Some(Self::Shared),
            _ => None,
        }
    }
}

/// The access-control list of a SHARED account. Omitted or `{}` means "only the creator".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AclConfig {
    pub allow_all_users: bool,
    pub allowed_user_ids: Vec<String>,
    pub not_allowed_user_ids: Vec<String>,
}

/// Which rule decided an access check; recorded in the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AclRule {
    Creator,
    DenyList,
    AllowAll,
    AllowList,
    DefaultDeny,
}

/// The outcome of [`decide`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AclDecision {
    pub allowed: bool,
    pub rule: AclRule,
}

/// The rule: the creator always passes; else the deny list wins; else allow-all; else the allow
/// list; else deny.
pub fn decide(acl: &AclConfig, creator: &str, user: &str) -> AclDecision {
    let (allowed, rule) = if user == creator {
        (true, AclRule::Creator)
    } else if acl.not_allowed_user_ids.iter().any(|u| u == user) {
        (false, AclRule::DenyList)
    } else if acl.allow_all_users {
        (true, AclRule::AllowAll)
    } else if acl.allowed_user_ids.iter().any(|u| u == user) {
        (true, AclRule::AllowList)
    } else {
        (false, AclRule::DefaultDeny)
    };
    AclDecision { allowed, rule }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(all: bool, allow: &[&str], deny: &[&str]) -> AclConfig {
        AclConfig {
            allow_all_users: all,
            allowed_user_ids: allow.iter().map(ToString::to_string).collect(),
            not_allowed_user_ids: deny.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn truth_table() {
        use AclRule::*;
        let rows = [
            // (allow_all, user, allowed, rule)
            (false, "creator", true, Creator),
            (false, "friend", true, AllowList),
            (false, "enemy", false, DenyList),
            (false, "both", false, DenyList),
            (false, "stranger", false, DefaultDeny),
            (true, "creator", true, Creator),
            (true, "friend", true, AllowAll),
            (true, "enemy", false, DenyList),
            (true, "both", false, DenyList),
            (true, "stranger", true, AllowAll),
        ];
        for (all, user, allowed, rule) in rows {
            let a = acl(all, &["friend", "both"], &["enemy", "both", "creator"]);
            assert_eq!(decide(&a, "creator", user), AclDecision { allowed, rule }, "allow_all={all} user={user}");
        }
        assert!(!decide(&AclConfig::default(), "c", "x").allowed);
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        fn users() -> impl Strategy<Value = Vec<String>> {
            proptest::collection::vec("[a-e]", 0..5)
        }

        proptest! {
            #[test]
            fn creator_is_never_denied(all in any::<bool>(), allow in users(), deny in users(), creator in "[a-e]") {
                let acl = AclConfig { allow_all_users: all, allowed_user_ids: allow, not_allowed_user_ids: deny };
                prop_assert_eq!(decide(&acl, &creator, &creator), AclDecision { allowed: true, rule: AclRule::Creator });
            }

            #[test]
            fn deny_list_always_wins(all in any::<bool>(), allow in users(), mut deny in users(), user in "[a-e]") {
                deny.push(user.clone());
                let acl = AclConfig { allow_all_users: all, allowed_user_ids: allow, not_allowed_user_ids: deny };
                prop_assert!(!decide(&acl, "creator", &user).allowed);
            }

            #[test]
            fn allowed_iff_rules_say_so(all in any::<bool>(), allow in users(), deny in users(), user in "[a-e]") {
                let acl = AclConfig { allow_all_users: all, allowed_user_ids: allow.clone(), not_allowed_user_ids: deny.clone() };
                let expected = !deny.contains(&user) && (all || allow.contains(&user));
                prop_assert_eq!(decide(&acl, "creator", &user).allowed, expected);
            }
        }
    }
}
