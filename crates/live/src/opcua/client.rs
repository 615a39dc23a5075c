//! The async side: one OPC UA session on its own tokio runtime (its own
//! thread), subscribing to the configured nodes and back-filling gaps.
//!
//! async-opcua's session event loop reconnects by itself (exponential
//! backoff, forever) and re-creates the subscription on the new session.
//! What it cannot know is what was missed meanwhile: values written while
//! the connection was down and those still queued on a server that died.
//! So on every reconnect after a loss we HistoryRead (raw) each node from the
//! newest source time received before the loss; the inbox drops what we
//! already had.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::opcua::client::{
    ClientBuilder, HistoryReadAction, IdentityToken, MonitoredItem, MonitoredItemMap,
    OnSubscriptionNotification, OnSubscriptionNotificationCore, Session, SessionPollResult,
};
use ::opcua::types::{
    ByteString, DataChangeFilter, DataChangeTrigger, DataValue, DateTime, EndpointDescription,
    ExtensionObject, HistoryData, HistoryReadValueId, MessageSecurityMode,
    MonitoredItemCreateRequest, NodeId, NotificationMessage, QualifiedName, ReadRawModifiedDetails,
    TimestampsToReturn, UserTokenPolicy,
};
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};

use super::OpcUaConfig;
use super::inbox::{Inbox, from_ticks};

/// Values per node per HistoryRead call; continuation points fetch the rest.
const HISTORY_CHUNK: u32 = 1000;
/// The server's queue per monitored item: large, so that a burst of writes
/// between two publishes loses nothing.
const QUEUE_SIZE: u32 = 10_000;

#[derive(Clone)]
struct Node {
    tag: String,
    lab: bool,
    id: NodeId,
}

enum LoopEvent {
    Connected,
    Lost,
}

fn lock(inbox: &Mutex<Inbox>) -> std::sync::MutexGuard<'_, Inbox> {
    // A poisoned lock means a panic elsewhere; the data are still consistent
    // (every update is a single push or insert), so carry on.
    inbox.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs until `stop` fires (or the client cannot be built).
pub async fn run(
    config: OpcUaConfig,
    ids: Vec<NodeId>,
    inbox: Arc<Mutex<Inbox>>,
    stop: oneshot::Receiver<()>,
) -> Result<(), String> {
    let nodes: Vec<Node> = config
        .nodes
        .iter()
        .zip(ids)
        .map(|(n, id)| Node {
            tag: n.tag.clone(),
            lab: n.lab,
            id,
        })
        .collect();
    let pki = std::env::temp_dir().join("biotwin-opcua-pki");
    let mut client = ClientBuilder::new()
        .application_name("biotwin live")
        .application_uri("urn:biotwin:live")
        .product_uri("urn:biotwin")
        .pki_dir(pki)
        .create_sample_keypair(false)
        .trust_server_certs(false)
        .session_retry_limit(-1)
        .recreate_subscriptions(false)
        .session_retry_initial(Duration::from_millis(config.reconnect_initial_ms))
        .session_retry_max(Duration::from_millis(config.reconnect_max_ms))
        .keep_alive_interval(Duration::from_secs(2))
        .client()
        .map_err(|e| format!("OPC UA client configuration: {}", e.join("; ")))?;
    let endpoint: EndpointDescription = (
        config.endpoint.as_str(),
        "None",
        MessageSecurityMode::None,
        UserTokenPolicy::anonymous(),
    )
        .into();
    let (session, event_loop) = client
        .connect_to_endpoint_directly(endpoint, IdentityToken::Anonymous)
        .map_err(|e| format!("{}: {e}", config.endpoint))?;

    // Drive the event loop on its own task: responses to our requests
    // (subscribe, HistoryRead) only arrive while it is polled.
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let loop_inbox = inbox.clone();
    let driver = tokio::spawn(async move {
        let stream = event_loop.enter();
        futures::pin_mut!(stream);
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(SessionPollResult::Reconnected(_)) => {
                    lock(&loop_inbox).stats.connects += 1;
                    let _ = events_tx.send(LoopEvent::Connected);
                }
                Ok(SessionPollResult::ConnectionLost(_)) => {
                    // In stream order: every notification before the loss
                    // is in the inbox, so the snapshot is the gap's start.
                    lock(&loop_inbox).connection_lost();
                    let _ = events_tx.send(LoopEvent::Lost);
                }
                Ok(_) => {}
                Err(code) => {
                    lock(&loop_inbox).fatal = Some(format!("session ended: {code}"));
                    break;
                }
            }
        }
    });

    // Our subscription, re-made by us on every connection (the library's
    // own re-creation is off: it could keep a subscription the new server
    // does not know, and we must know when to back-fill anyway).
    let mut sub_id: Option<u32> = None;
    let mut connected = false;
    let mut first = true;
    let mut retry = tokio::time::interval(Duration::from_secs(1));
    let mut stop = stop;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = retry.tick() => {
                // A subscription that failed on a live connection: try again.
                if connected && sub_id.is_none()
                    && let Ok(id) = subscribe(&session, &config, &nodes, &inbox).await
                {
                    sub_id = Some(id);
                }
            }
            ev = events.recv() => match ev {
                None => break,
                Some(LoopEvent::Lost) => connected = false,
                Some(LoopEvent::Connected) => {
                    connected = true;
                    if let Some(old) = sub_id.take() {
                        // Gone with a new session; on a reactivated one it
                        // is replaced (the back-fill covers the switch).
                        let _ = session.delete_subscriptions(&[old]).await;
                    }
                    match subscribe(&session, &config, &nodes, &inbox).await {
                        Ok(id) => sub_id = Some(id),
                        Err(e) => lock(&inbox).last_error = Some(e),
                    }
                    if !config.backfill {
                        lock(&inbox).gap_filled();
                    } else if first {
                        if let Some(from) = config.backfill_from_unix_s {
                            let ticks = unix_to_ticks(from);
                            let starts = nodes.iter().map(|n| (n.tag.clone(), ticks)).collect();
                            // History first, in order, then what the new
                            // subscription sent meanwhile.
                            lock(&inbox).hold();
                            let _ = backfill(&session, &nodes, &starts, &inbox).await;
                            lock(&inbox).release();
                        }
                    } else {
                        let tags: Vec<String> = nodes.iter().map(|n| n.tag.clone()).collect();
                        let starts = lock(&inbox).gap_starts(&tags);
                        match starts {
                            Some(starts) => {
                                if backfill(&session, &nodes, &starts, &inbox).await.is_ok() {
                                    lock(&inbox).gap_filled();
                                } else {
                                    // The gap stays open for the next
                                    // reconnect; what did arrive goes on.
                                    lock(&inbox).release();
                                }
                            }
                            None => lock(&inbox).release(),
                        }
                    }
                    first = false;
                }
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), session.disconnect()).await;
    driver.abort();
    Ok(())
}

fn unix_to_ticks(unix_s: f64) -> i64 {
    116_444_736_000_000_000 + (unix_s * 1.0e7).round() as i64
}

async fn subscribe(
    session: &Arc<Session>,
    config: &OpcUaConfig,
    nodes: &[Node],
    inbox: &Arc<Mutex<Inbox>>,
) -> Result<u32, String> {
    let by_id: HashMap<NodeId, (String, bool)> = nodes
        .iter()
        .map(|n| (n.id.clone(), (n.tag.clone(), n.lab)))
        .collect();
    let callback = WholeNotification {
        collect: Collect {
            by_id,
            values: Vec::new(),
        },
        inbox: inbox.clone(),
    };
    let interval = Duration::from_millis(config.publishing_interval_ms);
    let sub = session
        .create_subscription(interval, 600, 30, 0, 0, true, callback)
        .await
        .map_err(|e| format!("CreateSubscription: {e}"))?;
    let items: Vec<MonitoredItemCreateRequest> = nodes
        .iter()
        .map(|n| {
            let mut req: MonitoredItemCreateRequest = n.id.clone().into();
            // Every write is a reading, even one repeating the last value
            // at a new time: trigger on the timestamp too.
            req.requested_parameters.filter = ExtensionObject::from_message(DataChangeFilter {
                trigger: DataChangeTrigger::StatusValueTimestamp,
                deadband_type: 0,
                deadband_value: 0.0,
            });
            req.requested_parameters.sampling_interval = 0.0;
            req.requested_parameters.queue_size = QUEUE_SIZE;
            req.requested_parameters.discard_oldest = true;
            req
        })
        .collect();
    let results = session
        .create_monitored_items(sub, TimestampsToReturn::Both, items)
        .await
        .map_err(|e| format!("CreateMonitoredItems: {e}"))?;
    let bad: Vec<String> = results
        .iter()
        .zip(nodes)
        .filter(|(r, _)| !r.result.status_code.is_good())
        .map(|(r, n)| format!("{} ({}): {}", n.tag, n.id, r.result.status_code))
        .collect();
    if !bad.is_empty() {
        lock(inbox).last_error = Some(format!("monitored items refused: {}", bad.join(", ")));
    }
    Ok(sub)
}

/// Gathers the data values of one notification (the library hands them on
/// one by one).
struct Collect {
    by_id: HashMap<NodeId, (String, bool)>,
    values: Vec<(String, bool, DataValue)>,
}

impl OnSubscriptionNotification for Collect {
    fn on_data_value(&mut self, dv: DataValue, item: &MonitoredItem) {
        if let Some((tag, lab)) = self.by_id.get(&item.item_to_monitor().node_id) {
            self.values.push((tag.clone(), *lab, dv));
        }
    }
}

/// Offers a whole notification under one lock, so that `poll()` never takes
/// half of one: the inbox restores the server's order by sorting what it
/// hands on, which is only right for whole notifications.
struct WholeNotification {
    collect: Collect,
    inbox: Arc<Mutex<Inbox>>,
}

impl OnSubscriptionNotificationCore for WholeNotification {
    fn on_subscription_notification(
        &mut self,
        notification: NotificationMessage,
        items: MonitoredItemMap<'_>,
    ) {
        OnSubscriptionNotificationCore::on_subscription_notification(
            &mut self.collect,
            notification,
            items,
        );
        let mut ib = lock(&self.inbox);
        for (tag, lab, dv) in self.collect.values.drain(..) {
            ib.offer(&tag, lab, &dv, false);
        }
    }
}

/// HistoryRead (raw) of every node from its start to now; all or nothing
/// as far as the caller's bookkeeping goes (a failure leaves the gap open).
async fn backfill(
    session: &Arc<Session>,
    nodes: &[Node],
    starts: &HashMap<String, i64>,
    inbox: &Arc<Mutex<Inbox>>,
) -> Result<(), String> {
    for node in nodes {
        let Some(&start) = starts.get(&node.tag) else {
            continue;
        };
        let details = ReadRawModifiedDetails {
            is_read_modified: false,
            start_time: from_ticks(start),
            // A day ahead: tolerates a server clock ahead of ours.
            end_time: from_ticks(DateTime::now().ticks() + 864_000_000_000),
            num_values_per_node: HISTORY_CHUNK,
            return_bounds: false,
        };
        let mut continuation = ByteString::null();
        for _ in 0..100_000 {
            let read = HistoryReadValueId {
                node_id: node.id.clone(),
                index_range: Default::default(),
                data_encoding: QualifiedName::null(),
                continuation_point: continuation.clone(),
            };
            let results = session
                .history_read(
                    HistoryReadAction::ReadRawModifiedDetails(details.clone()),
                    TimestampsToReturn::Both,
                    false,
                    &[read],
                )
                .await
                .map_err(|e| format!("HistoryRead {}: {e}", node.id))?;
            let Some(result) = results.into_iter().next() else {
                return Err(format!("HistoryRead {}: empty response", node.id));
            };
            if !result.status_code.is_good() {
                // No history for this node: nothing to fill it with.
                let mut ib = lock(inbox);
                ib.stats.backfill_refused += 1;
                ib.last_error = Some(format!("HistoryRead {}: {}", node.id, result.status_code));
                break;
            }
            if let Some(data) = result.history_data.inner_as::<HistoryData>() {
                let mut ib = lock(inbox);
                for dv in data.data_values.iter().flatten() {
                    ib.offer(&node.tag, node.lab, dv, true);
                }
            }
            if result.continuation_point.is_null_or_empty() {
                break;
            }
            continuation = result.continuation_point;
        }
    }
    Ok(())
}
