//! Driving a procedure (a run, IMP's rounds) without blocking the UI.
//!
//! The procedure runs as one future under a [`Pacer`] that, after every step, reports what is new (status, train
//! metrics, evaluations, mask updates, rounds) as [`Event`]s and waits while the user pauses. Natively the future runs
//! on a worker thread and waiting blocks that thread; in the browser it runs as a page task that yields to the
//! browser every frame budget, so the page stays responsive and GPU read-backs stay asynchronous. The UI only sees
//! the [`Session`]'s plain data.

use burn::prelude::Device;
use web_time::Instant;

use crate::accounting::Accounting;
use crate::config::TrainConfig;
use crate::error::TrainError;
use crate::mask::Masks;
use crate::metrics::EvalMetrics;
use crate::pace::{News, Pacer};
use crate::procedure::{Outcome, run_procedure};
use crate::results::ImpRound;
use crate::sparsity::MaskUpdate;
use crate::timeline::Thinned;
use crate::train::{MAX_MASK_UPDATES, MaskSnapshot, TrainData, Trainer};

/// Train metrics are read back every this many steps, and after each of the first ones, so the curve starts with the
/// first step.
const READ_EVERY: usize = 10;
/// Test predictions kept for the gallery.
pub const GALLERY: usize = 32;

/// Where a run stands, as the UI shows it.
#[derive(Clone, Debug)]
pub struct Status {
    pub step: usize,
    pub total_steps: usize,
    pub epoch: f64,
    pub lr: f64,
    pub batch_size: usize,
    pub train_flops: f64,
    pub accounting: Accounting,
}

impl Status {
    fn of(t: &Trainer) -> Self {
        Status {
            step: t.step(),
            total_steps: t.total_steps(),
            epoch: t.epoch(),
            lr: t.lr(),
            batch_size: t.batch_size(),
            train_flops: t.train_flops(),
            accounting: t.accounting(),
        }
    }
}

pub enum Event {
    Status(Status),
    /// A new network starts training.
    Stage(String),
    Train {
        step: usize,
        loss: f64,
        accuracy: f64,
        lr: f64,
        at: Instant,
    },
    /// An evaluation, with the softmax predictions of the first [`GALLERY`] test images.
    Test {
        step: usize,
        metrics: EvalMetrics,
        gallery: Vec<f32>,
    },
    /// The mask at the start of a stage (`update` = None) or after a mask update.
    Masks {
        step: usize,
        update: Option<MaskUpdate>,
        masks: Box<Masks>,
    },
    Round(Box<ImpRound>),
    /// The network is being tested on this many images.
    Testing(usize),
    Done(Box<Outcome>),
    Failed(String),
}

/// One trained network's curves (a run has one stage; IMP has one per round and control).
#[derive(Clone, Debug, Default)]
pub struct Stage {
    pub label: String,
    /// (step, loss, accuracy, learning rate) of the train reports (one per `READ_EVERY` steps), thinned on very
    /// long runs.
    pub train: Thinned<[f64; 4], MAX_TRAIN_REPORTS>,
    /// (step, test loss, test accuracy).
    pub test: Vec<[f64; 3]>,
    /// Mask snapshots, with their steps: the start, then one per update, thinned on long runs; and the updates.
    /// Only the latest stage keeps them (the topology view shows no other).
    pub masks: Thinned<(usize, Masks), MAX_MASK_SNAPSHOTS>,
    pub updates: Thinned<MaskUpdate, MAX_MASK_UPDATES>,
}

/// The most train reports a stage keeps: every one for the first `MAX_TRAIN_REPORTS × READ_EVERY` steps (655,360);
/// beyond, every other one goes as often as needed, so a run of the 10⁷ steps a link may ask for keeps 2 MB of them,
/// not 32.
pub const MAX_TRAIN_REPORTS: usize = 1 << 16;

/// The most mask snapshots a stage keeps. One is a bit per prunable weight (62 KB for airbench ×0.5), and a long
/// run with frequent updates offers tens of thousands.
pub const MAX_MASK_SNAPSHOTS: usize = 256;

pub struct Session {
    pub config: TrainConfig,
    /// The network's layout (layer shapes for the mask pictures).
    pub spec: crate::model::NetSpec,
    pub status: Option<Status>,
    pub running: bool,
    pub stages: Vec<Stage>,
    pub rounds: Vec<ImpRound>,
    /// The latest test evaluation, and the softmax predictions of the first test images then.
    pub last_test: Option<EvalMetrics>,
    pub gallery: Vec<f32>,
    pub outcome: Option<Outcome>,
    pub error: Option<String>,
    /// Training throughput over the last second or so.
    pub images_per_second: f64,
    /// The test images of an evaluation under way (the status's step is the one before it).
    pub testing: Option<usize>,
    /// Seconds from the session's start to its first metrics (the first step includes shader compilation and
    /// autotuning on a GPU).
    pub first_metrics_seconds: Option<f64>,
    /// The step and time throughput is measured from.
    last_read: Option<(usize, Instant)>,
    started: Instant,
    /// `None` for a saved run opened for viewing.
    driver: Option<driver::Driver>,
}

impl Session {
    /// A new, paused procedure; `on_event` is called (from any thread) whenever it has news, to wake the UI.
    pub fn new(
        config: TrainConfig,
        data: TrainData,
        device: Device,
        backend: String,
        on_event: impl Fn() + Send + Sync + 'static,
    ) -> Result<Self, TrainError> {
        config.validate().map_err(TrainError::Config)?;
        let classes = data.test.num_classes.max(data.train.num_classes);
        let driver = driver::Driver::start(config.clone(), data, device, backend, Box::new(on_event));
        Ok(Session { driver: Some(driver), ..Session::empty(config, classes) })
    }

    fn empty(config: TrainConfig, classes: usize) -> Self {
        Session {
            spec: crate::model::NetSpec::new(config.model, config.width, classes),
            config,
            status: None,
            running: false,
            stages: vec![],
            rounds: vec![],
            last_test: None,
            gallery: vec![],
            outcome: None,
            error: None,
            images_per_second: 0.0,
            testing: None,
            first_metrics_seconds: None,
            last_read: None,
            started: Instant::now(),
            driver: None,
        }
    }

    /// A finished run, opened from its saved result (checked by [`Outcome::validate`]), to look at again.
    pub fn viewer(outcome: Outcome) -> Self {
        let mut session = Session::empty(outcome.config().clone(), outcome.classes());
        let stage_of = |label: String, curves: &[crate::train::CurvePoint]| Stage {
            label,
            train: curves
                .iter()
                .filter_map(|p| Some([p.step as f64, p.train_loss?, p.train_accuracy?, p.lr]))
                .collect(),
            test: curves.iter().filter_map(|p| Some([p.step as f64, p.test_loss?, p.test_accuracy?])).collect(),
            ..Stage::default()
        };
        match &outcome {
            Outcome::Run(r) => {
                let mut stage = stage_of("training".into(), &r.curves);
                stage.updates = r.mask_updates.iter().cloned().collect();
                session.stages.push(stage);
                session.last_test = Some(r.test.clone());
            }
            Outcome::Imp(r) => {
                for round in &r.rounds {
                    let mut stage = stage_of(format!("round {}: ticket", round.round), &round.ticket.curves);
                    stage.masks.push((0, round.masks.clone()));
                    session.stages.push(stage);
                    session.last_test = Some(round.ticket.test.clone());
                }
                session.rounds = r.rounds.clone();
            }
            Outcome::Ensemble(r) => session.last_test = Some(r.ensemble.clone()),
        }
        session.outcome = Some(outcome);
        session
    }

    pub fn is_done(&self) -> bool {
        self.outcome.is_some() || self.error.is_some()
    }

    /// Seconds since the session started.
    pub fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    pub fn set_running(&mut self, running: bool) {
        self.running = running && !self.is_done();
        if let Some(d) = &mut self.driver {
            d.set_running(self.running);
        }
    }

    /// One training step (while paused).
    pub fn step(&mut self) {
        if !self.running
            && !self.is_done()
            && let Some(d) = &mut self.driver
        {
            d.step();
        }
    }

    /// The stage training now (or last).
    pub fn stage(&self) -> Option<&Stage> {
        self.stages.last()
    }

    /// Apply the news since the last frame.
    pub fn update(&mut self) {
        let events = self.driver.as_mut().map(|d| d.poll()).unwrap_or_default();
        for event in events {
            self.apply(event);
        }
        if self.is_done() && self.running {
            self.set_running(false);
        }
    }

    fn stage_mut(&mut self) -> &mut Stage {
        if self.stages.is_empty() {
            self.stages.push(Stage { label: "training".into(), ..Stage::default() });
        }
        self.stages.last_mut().expect("a stage exists")
    }

    fn apply(&mut self, event: Event) {
        match event {
            Event::Status(status) => {
                // Throughput over the last second or more of status reports.
                let now = Instant::now();
                match self.last_read {
                    Some((step, at)) if status.step > step && (now - at).as_secs_f64() >= 1.0 => {
                        let seconds = (now - at).as_secs_f64();
                        self.images_per_second = ((status.step - step) * status.batch_size) as f64 / seconds;
                        self.last_read = Some((status.step, now));
                    }
                    Some((step, _)) if status.step >= step => {}
                    _ => self.last_read = Some((status.step, now)),
                }
                self.status = Some(status);
            }
            Event::Stage(label) => {
                // The topology view shows the latest stage's masks only: an ensemble of many members keeps one
                // member's timeline, not one per member.
                if let Some(previous) = self.stages.last_mut() {
                    previous.masks.clear();
                    previous.updates.clear();
                }
                self.stages.push(Stage { label, ..Stage::default() });
                self.last_read = None;
            }
            Event::Train { step, loss, accuracy, lr, at } => {
                self.first_metrics_seconds.get_or_insert((at - self.started).as_secs_f64());
                self.stage_mut().train.push([step as f64, loss, accuracy, lr]);
            }
            Event::Test { step, metrics, gallery } => {
                self.testing = None;
                self.gallery = gallery;
                self.stage_mut().test.push([step as f64, metrics.nll, metrics.accuracy]);
                self.last_test = Some(metrics);
            }
            Event::Masks { step, update, masks } => {
                let stage = self.stage_mut();
                stage.masks.push((step, *masks));
                stage.updates.extend(update);
            }
            Event::Round(round) => self.rounds.push(*round),
            Event::Testing(images) => {
                self.testing = Some(images);
                // Throughput counts training only: the next status starts a new measurement after the test.
                self.last_read = None;
            }
            Event::Done(outcome) => {
                self.testing = None;
                self.outcome = Some(*outcome);
            }
            Event::Failed(e) => {
                self.testing = None;
                self.error = Some(e);
            }
        }
    }

    /// Whether the UI must keep repainting to show progress (in the browser nothing else wakes it).
    pub fn busy(&self) -> bool {
        self.running
    }
}

/// What the procedure reports after each step; `wait` blocks (natively) or yields (in the browser) as the user
/// asked.
struct Reporter<E: Fn(Event)> {
    emit: E,
    seen_curves: usize,
    last_status: Option<Instant>,
}

impl<E: Fn(Event)> Reporter<E> {
    fn new(emit: E) -> Self {
        Reporter { emit, seen_curves: 0, last_status: None }
    }

    async fn report(&mut self, trainer: &mut Trainer) -> Result<(), TrainError> {
        let now = Instant::now();
        if self.last_status.is_none_or(|t| (now - t).as_millis() >= 50) || trainer.is_done() {
            (self.emit)(Event::Status(Status::of(trainer)));
            self.last_status = Some(now);
        }
        for snapshot in trainer.new_masks() {
            let MaskSnapshot { step, update, masks } = snapshot.clone();
            (self.emit)(Event::Masks { step, update, masks: Box::new(masks) });
        }
        if trainer.curves().len() > self.seen_curves {
            self.seen_curves = trainer.curves().len();
            let point = trainer.curves().last().expect("a new curve point");
            if let (Some(loss), Some(accuracy)) = (point.train_loss, point.train_accuracy) {
                let at = Instant::now();
                (self.emit)(Event::Train { step: point.step, loss, accuracy, lr: point.lr, at });
            }
            if let Some((metrics, probs)) = trainer.last_test() {
                let gallery = probs[..(GALLERY * trainer.spec().num_classes).min(probs.len())].to_vec();
                (self.emit)(Event::Test { step: point.step, metrics: metrics.clone(), gallery });
            }
        } else if (trainer.step() < READ_EVERY || trainer.step().is_multiple_of(READ_EVERY))
            && let Some((loss, accuracy)) = trainer.take_train_metrics().await?
        {
            let at = Instant::now();
            (self.emit)(Event::Train { step: trainer.step(), loss, accuracy, lr: trainer.lr(), at });
        }
        Ok(())
    }

    fn news(&mut self, news: News) {
        match news {
            News::Stage(label) => {
                self.seen_curves = 0;
                (self.emit)(Event::Stage(label));
            }
            News::Round(round) => (self.emit)(Event::Round(round)),
            News::Testing(images) => (self.emit)(Event::Testing(images)),
        }
    }
}

/// Run the procedure to its end (or failure) and report the outcome.
async fn run_and_report(
    config: TrainConfig,
    data: TrainData,
    device: Device,
    backend: String,
    pacer: &mut impl Pacer,
    emit: impl Fn(Event),
) {
    match run_procedure(&config, data, device, &backend, pacer).await {
        Ok(outcome) => emit(Event::Done(Box::new(outcome))),
        Err(TrainError::Cancelled) => {}
        Err(e) => emit(Event::Failed(e.to_string())),
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod driver {
    //! A worker thread runs the procedure; waiting for the user blocks only the worker.

    use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};

    use super::*;

    enum Command {
        Run(bool),
        Step,
    }

    pub struct Driver {
        commands: Sender<Command>,
        events: Receiver<Event>,
    }

    struct ThreadPacer<E: Fn(Event)> {
        reporter: Reporter<E>,
        commands: Receiver<Command>,
        running: bool,
    }

    impl<E: Fn(Event)> ThreadPacer<E> {
        /// Block until the user lets the next step run; `Cancelled` once the session is gone.
        fn wait(&mut self) -> Result<(), TrainError> {
            loop {
                let command = if self.running {
                    self.commands.try_recv()
                } else {
                    self.commands.recv().map_err(|_| TryRecvError::Disconnected)
                };
                match command {
                    Ok(Command::Run(r)) => self.running = r,
                    Ok(Command::Step) => return Ok(()),
                    Err(TryRecvError::Empty) => return Ok(()),
                    Err(TryRecvError::Disconnected) => return Err(TrainError::Cancelled),
                }
                if self.running {
                    return Ok(());
                }
            }
        }
    }

    impl<E: Fn(Event)> Pacer for ThreadPacer<E> {
        async fn on_step(&mut self, trainer: &mut Trainer) -> Result<(), TrainError> {
            self.reporter.report(trainer).await?;
            self.wait()
        }

        fn news(&mut self, news: News) {
            self.reporter.news(news);
        }
    }

    impl Driver {
        pub fn start(
            config: TrainConfig,
            data: TrainData,
            device: Device,
            backend: String,
            wake: Box<dyn Fn() + Send + Sync>,
        ) -> Self {
            let (commands, command_rx) = channel();
            let (event_tx, events) = channel();
            // Device handles are shared with burn's runtime and can move threads; the worker ends when the session
            // (and so the command sender) is dropped: the pacer then cancels the procedure.
            std::thread::spawn(move || {
                let emit = move |e: Event| {
                    let _ = event_tx.send(e);
                    wake();
                };
                let mut pacer = ThreadPacer { reporter: Reporter::new(&emit), commands: command_rx, running: false };
                if pacer.wait().is_ok() {
                    pollster::block_on(run_and_report(config, data, device, backend, &mut pacer, &emit));
                }
            });
            Driver { commands, events }
        }

        pub fn set_running(&self, running: bool) {
            let _ = self.commands.send(Command::Run(running));
        }

        pub fn step(&self) {
            let _ = self.commands.send(Command::Step);
        }

        pub fn poll(&mut self) -> Vec<Event> {
            self.events.try_iter().collect()
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod driver {
    //! The procedure runs as a page task that trains for a frame's budget, then yields to the browser (a zero-delay
    //! timeout), so the UI keeps drawing; while paused it checks back every 50 ms.

    use std::cell::RefCell;
    use std::rc::Rc;
    use std::time::Duration;

    use super::*;

    /// Time given to training before the task yields to the browser.
    const BUDGET: Duration = Duration::from_millis(25);

    #[derive(Default)]
    struct Control {
        running: bool,
        steps_requested: usize,
        cancelled: bool,
    }

    pub struct Driver {
        control: Rc<RefCell<Control>>,
        events: Rc<RefCell<Vec<Event>>>,
    }

    struct PagePacer<E: Fn(Event)> {
        reporter: Reporter<E>,
        control: Rc<RefCell<Control>>,
        since_yield: Instant,
    }

    impl<E: Fn(Event)> PagePacer<E> {
        async fn wait(&mut self) -> Result<(), TrainError> {
            loop {
                {
                    let mut c = self.control.borrow_mut();
                    if c.cancelled {
                        return Err(TrainError::Cancelled);
                    }
                    if c.running {
                        break;
                    }
                    if c.steps_requested > 0 {
                        c.steps_requested -= 1;
                        break;
                    }
                }
                sleep(50).await;
                self.since_yield = Instant::now();
            }
            if self.since_yield.elapsed() >= BUDGET {
                sleep(0).await;
                self.since_yield = Instant::now();
            }
            Ok(())
        }
    }

    impl<E: Fn(Event)> Pacer for PagePacer<E> {
        async fn on_step(&mut self, trainer: &mut Trainer) -> Result<(), TrainError> {
            self.reporter.report(trainer).await?;
            self.wait().await
        }

        fn news(&mut self, news: News) {
            self.reporter.news(news);
        }
    }

    /// Resolves after `ms` milliseconds on the browser's timer (a zero delay yields to the event loop).
    async fn sleep(ms: i32) {
        let promise = js_sys::Promise::new(&mut |resolve, _| {
            if let Some(window) = web_sys::window() {
                let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
            }
        });
        let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
    }

    impl Driver {
        pub fn start(
            config: TrainConfig,
            data: TrainData,
            device: Device,
            backend: String,
            _wake: Box<dyn Fn() + Send + Sync>,
        ) -> Self {
            let control = Rc::new(RefCell::new(Control::default()));
            let events: Rc<RefCell<Vec<Event>>> = Rc::default();
            let (task_control, task_events) = (control.clone(), events.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let emit = move |e: Event| task_events.borrow_mut().push(e);
                let mut pacer =
                    PagePacer { reporter: Reporter::new(&emit), control: task_control, since_yield: Instant::now() };
                if pacer.wait().await.is_ok() {
                    run_and_report(config, data, device, backend, &mut pacer, &emit).await;
                }
            });
            Driver { control, events }
        }

        pub fn set_running(&mut self, running: bool) {
            self.control.borrow_mut().running = running;
        }

        pub fn step(&mut self) {
            self.control.borrow_mut().steps_requested += 1;
        }

        pub fn poll(&mut self) -> Vec<Event> {
            std::mem::take(&mut *self.events.borrow_mut())
        }
    }

    impl Drop for Driver {
        fn drop(&mut self) {
            self.control.borrow_mut().cancelled = true;
        }
    }
}
