//! The processes of a fleet in quorum mode, as the shared state keeps
//! them: who is open on its own calls, and when each was last heard from.

use super::Machine;
use crate::clock::Nanos;
use crate::quorum::Rule;
use crate::{Reason, State};

/// At most this many processes are remembered; beyond it the one heard
/// from longest ago is forgotten, so a record stays small.
const MAX_MEMBERS: usize = 1024;

/// One process of the fleet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Member {
    /// Random, chosen by the process's breaker.
    pub(crate) id: u64,
    /// Open on its own calls at its last synchronisation.
    pub(crate) open: bool,
    /// When it last synchronised.
    pub(crate) seen: Nanos,
}

impl Machine {
    /// Notes that process `me` is alive and whether it is `open` on its own
    /// calls; forgets processes silent for longer than `liveness`; and, if
    /// the breaker is closed and `rule` says enough live processes are
    /// open, opens it for all.
    pub(crate) fn gather(
        &mut self,
        me: u64,
        open: bool,
        now: Nanos,
        rule: Rule,
        liveness: Nanos,
    ) -> Option<super::Change> {
        self.members
            .retain(|m| m.id != me && now.saturating_sub(m.seen) <= liveness);
        if self.members.len() >= MAX_MEMBERS {
            if let Some(oldest) = (0..self.members.len()).min_by_key(|&i| self.members[i].seen) {
                self.members.swap_remove(oldest);
            }
        }
        self.members.push(Member {
            id: me,
            open,
            seen: now,
        });
        if self.state != State::Closed {
            return None;
        }
        let live = self.members.len() as u64;
        let open = self.members.iter().filter(|m| m.open).count() as u64;
        let enough = match rule {
            Rule::AtLeast(k) => open >= u64::from(k),
            Rule::Share(share) => open > 0 && open as f64 >= share * live as f64,
        };
        let reason = Reason::Quorum {
            open: u32::try_from(open).unwrap_or(u32::MAX),
            live: u32::try_from(live).unwrap_or(u32::MAX),
        };
        enough.then(|| self.enter(State::Open, reason, now))
    }

    /// Every process counts as closed again (the breaker closed).
    pub(crate) fn forget_open_members(&mut self) {
        for member in &mut self.members {
            member.open = false;
        }
    }
}

/// The members as one token of a record: `id:o:seen` (`o` open, `c`
/// closed), comma-separated, ids in hex.
pub(crate) fn encode(members: &[Member]) -> String {
    let mut text = String::with_capacity(members.len() * 36);
    for (i, m) in members.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        let flag = if m.open { 'o' } else { 'c' };
        text.push_str(&format!("{:x}:{flag}:{}", m.id, m.seen));
    }
    text
}

/// The members [`encode`] wrote; an error naming the first bad one.
pub(crate) fn decode(text: &str) -> Result<Vec<Member>, String> {
    text.split(',')
        .filter(|m| !m.is_empty())
        .take(MAX_MEMBERS)
        .map(|m| {
            let mut parts = m.split(':');
            let parsed = (|| {
                let id = u64::from_str_radix(parts.next()?, 16).ok()?;
                let open = match parts.next()? {
                    "o" => true,
                    "c" => false,
                    _ => return None,
                };
                let seen = parts.next()?.parse().ok()?;
                parts.next().is_none().then_some(Member { id, open, seen })
            })();
            parsed.ok_or_else(|| format!("bad member {m:?}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_round_trip_and_bad_ones_are_named() {
        let members = vec![
            Member {
                id: 0xabc,
                open: true,
                seen: 5,
            },
            Member {
                id: u64::MAX,
                open: false,
                seen: u64::MAX,
            },
        ];
        assert_eq!(decode(&encode(&members)).unwrap(), members);
        assert_eq!(decode("").unwrap(), vec![]);
        for bad in ["x:o:1", "1:z:1", "1:o:-1", "1:o", "1:o:1:2"] {
            assert!(decode(bad).unwrap_err().contains(bad), "{bad}");
        }
    }
}
