//! DNS resolution that refuses forbidden addresses.
//!
//! A host name that passes the as-written check can still resolve to 127.0.0.1 or to the
//! metadata service. reqwest asks its resolver on every new connection and connects only to the
//! addresses it returns, so checking here (rather than resolving once at validation time) also
//! defeats DNS rebinding: there is no second lookup between our check and the connect.

use std::{collections::HashSet, net::SocketAddr, sync::Arc};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::{address::forbidden_range, policy::OutboundRefusal};

/// The resolver behind each of the two reqwest clients.
#[derive(Clone)]
pub(crate) enum GuardedResolver {
    /// For every non-allowlisted URL: any forbidden address in the answer refuses the whole name
    /// (connecting to the "good" one would leave the choice to the attacker's DNS).
    Guard,
    /// For allowlisted origins only: resolves just the allowlisted host names, without address
    /// rules, since the operator vouched for them. The request code picks this client only for
    /// allowlisted origins; the name check is a second lock on that door.
    Allowlisted(Arc<HashSet<String>>),
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let this = self.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = this.lookup(&host).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

impl GuardedResolver {
    /// Port 0 lets reqwest put in the URL's port (or the scheme's default).
    async fn lookup(&self, host: &str) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
        if let Self::Allowlisted(names) = self {
            if !names.contains(host) {
                return Err(Box::new(OutboundRefusal::NotAllowlisted));
            }
        }
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0)).await?.collect();
        if let Self::Guard = self {
            if let Some(range) = addrs.iter().find_map(|a| forbidden_range(a.ip())) {
                tracing::debug!(host, range, "outbound name resolves to a forbidden address");
                return Err(Box::new(OutboundRefusal::ResolvesToForbidden { range }));
            }
        }
        Ok(addrs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn refusal(resolver: &GuardedResolver, host: &str) -> Option<OutboundRefusal> {
        let name: Name = host.parse().unwrap();
        match resolver.resolve(name).await {
            Ok(_) => None,
            Err(e) => Some(e.downcast_ref::<OutboundRefusal>().cloned().unwrap_or_else(|| panic!("{host}: {e}"))),
        }
    }

    #[tokio::test]
    async fn guard_refuses_names_that_resolve_to_loopback() {
        // `localhost` is refused as written too; here it stands for any name whose DNS answer
        // is private, which is what an attacker's own domain would return.
        let got = refusal(&GuardedResolver::Guard, "localhost").await;
        assert!(matches!(got, Some(OutboundRefusal::ResolvesToForbidden { .. })), "{got:?}");
    }

    #[tokio::test]
    async fn allowlisted_resolver_resolves_only_allowlisted_names() {
        let resolver = GuardedResolver::Allowlisted(Arc::new(HashSet::from(["localhost".to_owned()])));
        let name: Name = "localhost".parse().unwrap();
        let addrs: Vec<SocketAddr> = resolver.resolve(name).await.unwrap().collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()) && !addrs.is_empty(), "{addrs:?}");
        assert_eq!(refusal(&resolver, "other.example").await, Some(OutboundRefusal::NotAllowlisted));
    }
}
