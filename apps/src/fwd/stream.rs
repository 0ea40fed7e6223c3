//! A [`Stream`]: one (rx port, rx queue) → (tx port, tx queue) path, its
//! batch and its engine, polled by a forwarding core.

use super::*;

/// One rx queue → tx queue path, polled by one core.
pub struct Stream {
    pub(crate) id: StreamId,
    pub(crate) rx: Box<dyn RxQueue>,
    pub(crate) tx: Box<dyn TxQueue>,
    pub(crate) batch: Box<MbufBatch>,
    pub(crate) burst: usize,
    pub(crate) counters: Arc<StreamCounters>,
    pub(crate) engine: Engine,
    /// Capture points (`--pcap-rx/--pcap-tx`); `None`: one branch per burst.
    pub(crate) capture: Option<Box<StreamTaps>>,
    /// `--tx-vlan` for the tx port; `None`: one branch per burst.
    pub(crate) tx_vlan: Option<TxVlan>,
}

impl Stream {
    /// Builds a stream. Fails (with a message) if the burst is out of range
    /// or a generator's frames do not fit its pool's buffers.
    pub fn new(
        id: StreamId,
        rx: Box<dyn RxQueue>,
        tx: Box<dyn TxQueue>,
        burst: usize,
        engine: EngineConfig,
    ) -> Result<Stream, String> {
        if burst == 0 || burst > MAX_BURST {
            return Err(format!("burst {burst} is out of range 1..={MAX_BURST}"));
        }
        let engine = match engine {
            EngineConfig::Io => Engine::Io,
            EngineConfig::Mac { src, dst } => Engine::Mac { src: src.0, dst: dst.0 },
            EngineConfig::MacSwap => Engine::MacSwap,
            EngineConfig::RxOnly => Engine::RxOnly(Verifier { expected: Box::new([0; MAX_SENDERS]) }),
            EngineConfig::Csum(cfg) => Engine::Csum(cfg),
            EngineConfig::IcmpEcho { port_mac } => Engine::IcmpEcho(port_mac.0),
            EngineConfig::FiveTupleSwap => Engine::FiveTupleSwap,
            EngineConfig::TxGen(cfg) => {
                let segments = cfg.segment_lengths()?;
                let mut spec = cfg.spec;
                spec.sender = pkt::sender_id(id.tx_port, id.tx_queue);
                Engine::TxGen(Box::new(TxGen {
                    tmpl: Template::new(&spec),
                    segments,
                    pool: cfg.pool,
                    flows: cfg.flows.max(1),
                    flow: 0,
                    seq: 0,
                    limit: cfg.count.unwrap_or(u64::MAX),
                    rate: cfg.rate_pps.filter(|r| *r > 0.0).map(|r| (Instant::now(), r)),
                    stuck_since: None,
                }))
            }
        };
        Ok(Stream {
            id,
            rx,
            tx,
            batch: Box::new(MbufBatch::new()),
            burst,
            counters: Arc::new(StreamCounters::default()),
            engine,
            capture: None,
            tx_vlan: None,
        })
    }

    /// Where the stream reads and writes.
    pub fn id(&self) -> StreamId {
        self.id
    }

    /// The stream's counters (shared with whoever reports them).
    pub fn counters(&self) -> Arc<StreamCounters> {
        Arc::clone(&self.counters)
    }

    /// Captures what this stream receives and/or transmits from now on.
    pub fn set_capture(&mut self, taps: StreamTaps) {
        self.capture = (taps.rx.is_some() || taps.tx.is_some()).then(|| Box::new(taps));
    }

    /// Tags every frame this stream sends from now on (`--tx-vlan`),
    /// generated, forwarded or answered, `--tx-first` frames included.
    pub fn set_tx_vlan(&mut self, vlan: TxVlan) {
        self.tx_vlan = Some(vlan);
    }

    /// Restarts a generator's rate clock (call right before forwarding starts).
    pub fn start_clock(&mut self) {
        if let Engine::TxGen(g) = &mut self.engine {
            if let Some((t, _)) = &mut g.rate {
                *t = Instant::now();
            }
        }
    }

    /// One burst's worth of work. Returns frames received or generated.
    #[inline]
    pub fn poll(&mut self) -> usize {
        let Stream { rx, tx, batch, burst, counters, engine, capture, tx_vlan, .. } = self;
        let (burst, c): (usize, &StreamCounters) = (*burst, counters);
        let out = Egress { cap: capture.as_deref(), vlan: *tx_vlan };
        let (rx, tx) = (&mut **rx, &mut **tx);
        match engine {
            Engine::Io => forward(rx, tx, batch, burst, c, out, |_| {}),
            Engine::Mac { src, dst } => {
                let (src, dst) = (*src, *dst);
                forward(rx, tx, batch, burst, c, out, |b| {
                    // The addresses are in the first segment; a frame whose
                    // first segment is shorter goes out unchanged.
                    for m in b.iter_mut() {
                        if let Some(h) = m.data_mut().get_mut(..12) {
                            h[..6].copy_from_slice(&dst);
                            h[6..].copy_from_slice(&src);
                        }
                    }
                })
            }
            Engine::MacSwap => forward(rx, tx, batch, burst, c, out, |b| {
                for m in b.iter_mut() {
                    if let Some(h) = m.data_mut().get_mut(..12) {
                        let (d, s) = h.split_at_mut(6);
                        d.swap_with_slice(s);
                    }
                }
            }),
            Engine::Csum(cfg) => forward(rx, tx, batch, burst, c, out, |b| {
                let mut t = CsumTally::default();
                for m in b.iter_mut() {
                    csum::prepare(m, cfg, &mut t);
                }
                c.add_csum(&t);
            }),
            Engine::IcmpEcho(mac) => forward(rx, tx, batch, burst, c, out, |b| {
                let dropped = b.retain(|m| icmpecho::answer(m, *mac) != icmpecho::Answer::None);
                if dropped != 0 {
                    c.consumed.add(dropped as u64);
                }
            }),
            Engine::FiveTupleSwap => forward(rx, tx, batch, burst, c, out, |b| {
                for m in b.iter_mut() {
                    swap::five_tuple_swap(m);
                }
            }),
            Engine::RxOnly(v) => rx_only(rx, batch, burst, c, v, out.cap),
            Engine::TxGen(g) => tx_gen(tx, batch, burst, c, g, out),
        }
    }

    /// Whether a generator has sent everything `count` asked for.
    pub fn is_done(&self) -> bool {
        self.counters.is_done()
    }

    /// After the core stopped: receives what is still queued (at most `max`
    /// frames), counts it as received and drained, frees it. Then frees any
    /// frames a generator still held, counting them as forwarding drops.
    /// Returns the frames drained.
    pub fn drain(&mut self, max: usize) -> usize {
        let mut total = 0;
        if !matches!(self.engine, Engine::TxGen(_)) {
            while total < max {
                let n = self.rx.rx_burst(&mut self.batch, MAX_BURST.min(max - total));
                if n == 0 {
                    break;
                }
                self.counters.rx.add(n as u64);
                self.counters.drained.add(n as u64);
                self.batch.clear();
                total += n;
            }
        }
        if !self.batch.is_empty() {
            self.counters.fwd_drops.add(self.batch.len() as u64);
            self.batch.clear();
        }
        total
    }

    /// Sends `bursts` bursts of generated frames before forwarding starts
    /// (testpmd's `start tx_first`), so wired ports (loop, pair) have
    /// traffic to forward. Frames the tx queue refuses are freed and counted
    /// as forwarding drops. Returns the frames sent.
    pub fn tx_first(&mut self, cfg: &TxGenConfig, bursts: usize) -> Result<usize, String> {
        let segments = cfg.segment_lengths().map_err(|e| format!("tx_first: {e}"))?;
        let mut spec = cfg.spec.clone();
        spec.sender = pkt::sender_id(self.id.tx_port, self.id.tx_queue);
        let tmpl = Template::new(&spec);
        let mut sent = 0;
        for b in 0..bursts {
            if !alloc_frames(&cfg.pool, &mut self.batch, self.burst, &segments) {
                break;
            }
            for (i, m) in self.batch.iter_mut().enumerate() {
                let seq = (b * self.burst + i) as u64;
                let flow = (cfg.flows > 1).then(|| (seq % u64::from(cfg.flows)) as u16);
                tmpl.write_mbuf(m, seq, flow);
            }
            self.counters.generated.add(self.burst as u64);
            tag(&mut self.batch, self.tx_vlan, &self.counters);
            let n = tx_captured(&mut *self.tx, &mut self.batch, self.capture.as_deref());
            self.counters.tx.add(n as u64);
            sent += n;
            if !self.batch.is_empty() {
                self.counters.fwd_drops.add(self.batch.len() as u64);
                self.batch.clear();
            }
        }
        Ok(sent)
    }

    /// Gives the queues back (to drop them before stopping the ports).
    pub fn into_queues(mut self) -> (Box<dyn RxQueue>, Box<dyn TxQueue>) {
        self.drain(0);
        let Stream { rx, tx, .. } = self;
        (rx, tx)
    }
}
