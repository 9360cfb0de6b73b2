//! Where a store's keys live: one server, or the masters of a Redis
//! Cluster. Each server is a [`Node`] with its own pool of idle
//! connections, so a call on a cluster takes a connection to the one
//! master that holds its key, within the same deadline as on one server.

use std::sync::Arc;

use redis::{Connection, ConnectionInfo, RedisError};

use super::cluster::Cluster;
use super::connect::{self, ConnectError};
use super::target::Target;
use crate::deadline::Deadline;
use crate::pool::Pool;

/// One Redis server and its idle connections.
pub(super) struct Node {
    pub(super) info: ConnectionInfo,
    pool: Arc<Pool<Connection>>,
}

impl Node {
    pub(super) fn new(info: ConnectionInfo) -> Arc<Node> {
        Arc::new(Node {
            info,
            pool: Arc::new(Pool::new()),
        })
    }

    /// An idle connection, or a new one made before `deadline`.
    pub(super) fn lease(self: &Arc<Node>, deadline: &Deadline) -> Result<Lease, ConnectError> {
        match self.pool.take() {
            Some(connection) => Ok(Lease {
                connection,
                node: Arc::clone(self),
                pooled: true,
                redirected: false,
            }),
            None => self.fresh(deadline),
        }
    }

    /// A new connection, made before `deadline`.
    pub(super) fn fresh(self: &Arc<Node>, deadline: &Deadline) -> Result<Lease, ConnectError> {
        let connection = connect::connect(&self.info, deadline, &self.pool)?;
        Ok(Lease {
            connection,
            node: Arc::clone(self),
            pooled: false,
            redirected: false,
        })
    }
}

/// A connection taken from a node's pool (or made) for one call.
pub(super) struct Lease {
    pub(super) connection: Connection,
    node: Arc<Node>,
    /// It was idle in the pool, so it may have died with a restarted server.
    pooled: bool,
    /// The server answered that the key lives on another node.
    pub(super) redirected: bool,
}

impl Lease {
    /// Gives the connection back for reuse: it is in a known good state.
    pub(super) fn give_back(self) {
        self.node.pool.put(self.connection);
    }

    /// Whether a failed command is worth one more try on a new connection:
    /// an idle connection may have died with a restarted server, and a
    /// key that moved lives on another node now.
    pub(super) fn worth_a_new_connection(&self) -> bool {
        self.pooled || self.redirected
    }
}

/// The servers of a store.
pub(super) enum Servers {
    /// One server.
    One(Arc<Node>),
    /// A Redis Cluster.
    Cluster(Cluster),
}

impl Servers {
    pub(super) fn new(target: Target) -> Servers {
        match target {
            Target::One(info) => Servers::One(Node::new(*info)),
            Target::Cluster(seeds) => Servers::Cluster(Cluster::new(seeds)),
        }
    }

    /// The password every node is reached with, to keep out of messages.
    pub(super) fn password(&self) -> Option<&str> {
        let info = match self {
            Servers::One(node) => &node.info,
            Servers::Cluster(cluster) => cluster.template(),
        };
        info.redis_settings()
            .password()
            .filter(|password| !password.is_empty())
    }

    /// Whether this is a Redis Cluster.
    pub(super) fn is_cluster(&self) -> bool {
        matches!(self, Servers::Cluster(_))
    }

    /// The servers a subscriber may listen on, to try in turn: the one
    /// server, or a cluster's seed nodes (at least one).
    pub(super) fn subscribable(&self) -> Vec<redis::ConnectionInfo> {
        match self {
            Servers::One(node) => vec![node.info.clone()],
            Servers::Cluster(cluster) => cluster.seeds(),
        }
    }

    /// The node that holds `key`.
    pub(super) fn node_for(
        &self,
        key: &str,
        deadline: &Deadline,
    ) -> Result<Arc<Node>, ConnectError> {
        match self {
            Servers::One(node) => Ok(Arc::clone(node)),
            Servers::Cluster(cluster) => cluster.node_for(key, deadline),
        }
    }

    /// Every node holding keys (each master of a cluster), for listing.
    pub(super) fn masters(&self, deadline: &Deadline) -> Result<Vec<Arc<Node>>, ConnectError> {
        match self {
            Servers::One(node) => Ok(vec![Arc::clone(node)]),
            Servers::Cluster(cluster) => cluster.masters(deadline),
        }
    }

    /// Learns from an error of a command on `lease`: when the cluster
    /// moved the key elsewhere, the map of slots is read again before the
    /// next call to it, and the lease is marked redirected.
    pub(super) fn learn(&self, lease: &mut Lease, error: &RedisError) {
        if let Servers::Cluster(cluster) = self {
            if cluster.learn(error) {
                lease.redirected = true;
            }
        }
    }
}
