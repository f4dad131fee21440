//! Which port feeds which: a Dispatcher's sink → source routes, or a DispatcherOneToMany's one
//! source for every other port.

use std::collections::HashMap;

#[derive(Default)]
pub(super) struct Routes {
    /// Dispatcher: sink port → source port.
    to: HashMap<String, String>,
    /// DispatcherOneToMany: the port every other port receives.
    broadcast: Option<String>,
}

impl Routes {
    /// `sink` gets `source` (`None`: nothing).
    pub fn route(&mut self, sink: &str, source: Option<&str>) {
        match source {
            Some(source) => {
                self.to.insert(sink.to_owned(), source.to_owned());
            }
            None => {
                self.to.remove(sink);
            }
        }
    }

    pub fn set_broadcast(&mut self, source: Option<&str>) {
        self.broadcast = source.map(str::to_owned);
    }

    /// The port whose media `sink` receives (never itself).
    pub fn source_of(&self, sink: &str) -> Option<&str> {
        let source = match &self.broadcast {
            Some(b) => Some(b.as_str()),
            None => self.to.get(sink).map(String::as_str),
        };
        source.filter(|s| *s != sink)
    }

    /// Forgets the routes of ports that are gone.
    pub fn retain_ports<'a>(&mut self, live: impl Iterator<Item = &'a str>) {
        let live: Vec<&str> = live.collect();
        self.to.retain(|sink, source| {
            live.contains(&sink.as_str()) && live.contains(&source.as_str())
        });
        if self
            .broadcast
            .as_deref()
            .is_some_and(|b| !live.contains(&b))
        {
            self.broadcast = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_follow_connects_broadcasts_and_departures() {
        let mut r = Routes::default();
        r.route("b", Some("a"));
        r.route("c", Some("a"));
        assert_eq!(r.source_of("b"), Some("a"));
        assert_eq!(r.source_of("a"), None);
        r.route("b", Some("c"));
        assert_eq!(r.source_of("b"), Some("c"));
        r.retain_ports(["a", "b"].into_iter());
        assert_eq!(r.source_of("b"), None, "c left");
        assert_eq!(r.source_of("c"), None);

        r.set_broadcast(Some("a"));
        assert_eq!(r.source_of("b"), Some("a"));
        assert_eq!(r.source_of("a"), None, "the source does not get itself");
        r.retain_ports(["b"].into_iter());
        assert_eq!(r.source_of("b"), None, "the source left");
    }
}
