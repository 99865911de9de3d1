//! Driving a training run without blocking the UI.
//!
//! Natively the trainer lives on a worker thread: the UI sends commands and receives events. In the browser there
//! are no threads, so the trainer lives in the page and runs steps for a time budget each frame; reading metrics
//! back is asynchronous there, and the session never runs more than a couple of reads ahead of the device, so the
//! GPU queue stays short. Both report through the same [`Event`]s, and the UI only sees [`Status`] and curves.

use burn::prelude::Device;
use web_time::Instant;

use crate::accounting::Accounting;
use crate::config::TrainConfig;
use crate::data::DataSplits;
use crate::metrics::EvalMetrics;
use crate::train::{Split, TrainError, Trainer};

/// Train metrics are read back every this many steps.
const READ_EVERY: usize = 10;

/// Where a run stands, as the UI shows it.
#[derive(Clone, Debug)]
pub struct Status {
    pub step: usize,
    pub total_steps: usize,
    pub epoch: f64,
    pub batch_size: usize,
    pub train_flops: f64,
    pub accounting: Accounting,
}

impl Status {
    fn of(t: &Trainer) -> Self {
        Status {
            step: t.step,
            total_steps: t.total_steps,
            epoch: t.epoch(),
            batch_size: t.batch_size(),
            train_flops: t.train_flops,
            accounting: t.accounting(),
        }
    }
}

enum Event {
    Status(Status),
    Train { step: usize, loss: f64, accuracy: f64, at: Instant },
    Test { step: usize, metrics: EvalMetrics },
    Failed(String),
}

pub struct Session {
    pub config: TrainConfig,
    pub status: Status,
    pub running: bool,
    /// (step, loss, accuracy) of the train batches.
    pub train_curve: Vec<[f64; 3]>,
    /// (step, test metrics).
    pub test_curve: Vec<(usize, EvalMetrics)>,
    pub error: Option<String>,
    /// Training throughput measured between completed reads.
    pub images_per_second: f64,
    /// Seconds from the session's start to its first metrics (the first step includes shader compilation and
    /// autotuning on a GPU).
    pub first_metrics_seconds: Option<f64>,
    last_read: Option<(usize, Instant)>,
    started: Instant,
    driver: driver::Driver,
}

impl Session {
    /// A new run; `on_event` is called (from any thread) whenever the run has news, to wake the UI.
    pub fn new(
        config: TrainConfig,
        data: DataSplits,
        device: Device,
        on_event: impl Fn() + Send + Sync + 'static,
    ) -> Result<Self, TrainError> {
        let trainer = Trainer::new(config.clone(), data, device)?;
        Ok(Session {
            config,
            status: Status::of(&trainer),
            running: false,
            train_curve: vec![],
            test_curve: vec![],
            error: None,
            images_per_second: 0.0,
            first_metrics_seconds: None,
            last_read: None,
            started: Instant::now(),
            driver: driver::Driver::start(trainer, Box::new(on_event)),
        })
    }

    pub fn is_done(&self) -> bool {
        self.status.step >= self.status.total_steps || self.error.is_some()
    }

    pub fn set_running(&mut self, running: bool) {
        self.running = running && !self.is_done();
        self.driver.set_running(self.running);
    }

    /// One training step (while paused).
    pub fn step(&mut self) {
        if !self.running && !self.is_done() {
            self.driver.step();
        }
    }

    /// Apply the news since the last frame, and on the web train for this frame's budget.
    pub fn update(&mut self, budget: std::time::Duration) {
        for event in self.driver.poll(budget) {
            match event {
                Event::Status(status) => self.status = status,
                Event::Train { step, loss, accuracy, at } => {
                    self.first_metrics_seconds.get_or_insert((at - self.started).as_secs_f64());
                    if let Some((last_step, last_at)) = self.last_read {
                        let seconds = (at - last_at).as_secs_f64().max(1e-6);
                        self.images_per_second = ((step - last_step) * self.status.batch_size) as f64 / seconds;
                    }
                    self.last_read = Some((step, at));
                    self.train_curve.push([step as f64, loss, accuracy]);
                }
                Event::Test { step, metrics } => self.test_curve.push((step, metrics)),
                Event::Failed(e) => self.error = Some(e),
            }
        }
        if self.is_done() && self.running {
            self.set_running(false);
        }
    }

    /// Whether the UI must keep repainting to make progress (in the browser, frames drive training; natively the
    /// worker wakes the UI when it has news).
    pub fn busy(&self) -> bool {
        #[cfg(target_arch = "wasm32")]
        return self.running || self.driver.waiting();
        #[cfg(not(target_arch = "wasm32"))]
        false
    }
}

/// What one training step leads to: the step, then the reads that are due.
async fn step_and_report(trainer: &mut Trainer, emit: &impl Fn(Event)) {
    trainer.train_step();
    emit(Event::Status(Status::of(trainer)));
    if trainer.step % READ_EVERY == 0 || trainer.is_done() {
        match trainer.take_train_metrics().await {
            Ok(Some((loss, accuracy))) => emit(Event::Train { step: trainer.step, loss, accuracy, at: Instant::now() }),
            Ok(None) => {}
            Err(e) => emit(Event::Failed(e.to_string())),
        }
    }
    if trainer.eval_due() {
        match trainer.evaluate(Split::Test).await {
            Ok(metrics) => emit(Event::Test { step: trainer.step, metrics }),
            Err(e) => emit(Event::Failed(e.to_string())),
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod driver {
    //! A worker thread owns the trainer; reads block only the worker.

    use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};

    use super::{Event, Trainer, step_and_report};

    enum Command {
        Run(bool),
        Step,
    }

    pub struct Driver {
        commands: Sender<Command>,
        events: Receiver<Event>,
    }

    impl Driver {
        pub fn start(mut trainer: Trainer, wake: Box<dyn Fn() + Send + Sync>) -> Self {
            let (commands, command_rx) = channel();
            let (event_tx, events) = channel();
            // The trainer's device handles are shared with burn's runtime and can move threads; the worker ends
            // when the session (and so the command sender) is dropped.
            std::thread::spawn(move || {
                let emit = |e: Event| {
                    let _ = event_tx.send(e);
                    wake();
                };
                let mut running = false;
                loop {
                    let command = if running {
                        command_rx.try_recv()
                    } else {
                        command_rx.recv().map_err(|_| TryRecvError::Disconnected)
                    };
                    match command {
                        Ok(Command::Run(r)) => running = r,
                        Ok(Command::Step) => pollster::block_on(step_and_report(&mut trainer, &emit)),
                        Err(TryRecvError::Empty) => {}
                        Err(TryRecvError::Disconnected) => return,
                    }
                    if running {
                        if trainer.is_done() {
                            running = false;
                        } else {
                            pollster::block_on(step_and_report(&mut trainer, &emit));
                        }
                    }
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

        pub fn poll(&mut self, _budget: std::time::Duration) -> Vec<Event> {
            self.events.try_iter().collect()
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod driver {
    //! The trainer lives in the page. Each frame hands it to one browser task that trains for the frame's budget;
    //! the task owns it while it awaits read-backs, so steps stay in order and the GPU queue stays short.

    use std::cell::RefCell;
    use std::rc::Rc;

    use web_time::Instant;

    use super::{Event, Trainer, step_and_report};

    pub struct Driver {
        trainer: Rc<RefCell<Option<Trainer>>>,
        events: Rc<RefCell<Vec<Event>>>,
        running: bool,
        steps_requested: usize,
    }

    impl Driver {
        pub fn start(trainer: Trainer, _wake: Box<dyn Fn() + Send + Sync>) -> Self {
            Driver {
                trainer: Rc::new(RefCell::new(Some(trainer))),
                events: Rc::default(),
                running: false,
                steps_requested: 0,
            }
        }

        pub fn set_running(&mut self, running: bool) {
            self.running = running;
        }

        pub fn step(&mut self) {
            self.steps_requested += 1;
        }

        pub fn poll(&mut self, budget: std::time::Duration) -> Vec<Event> {
            if self.running || self.steps_requested > 0 {
                let taken = self.trainer.borrow_mut().take();
                if let Some(mut trainer) = taken {
                    let steps = if self.running { usize::MAX } else { std::mem::take(&mut self.steps_requested) };
                    let (slot, events) = (self.trainer.clone(), self.events.clone());
                    wasm_bindgen_futures::spawn_local(async move {
                        let emit = |e: Event| events.borrow_mut().push(e);
                        let start = Instant::now();
                        let mut done = 0;
                        while done < steps && !trainer.is_done() && start.elapsed() < budget {
                            step_and_report(&mut trainer, &emit).await;
                            done += 1;
                        }
                        *slot.borrow_mut() = Some(trainer);
                    });
                }
            }
            std::mem::take(&mut *self.events.borrow_mut())
        }

        /// A task is still training or reading.
        pub fn waiting(&self) -> bool {
            self.trainer.borrow().is_none()
        }
    }
}
