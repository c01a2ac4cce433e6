//! `makeroom`: parse the command line, then hand over to the library. Nothing else lives here.

use clap::Parser;
use makeroom_server::app::{Application, Backend, EventLinks, event_links};
use makeroom_server::config::{Cli, Command, CreateEventArgs, EventCommand, ServeConfig};
use makeroom_server::demo::create_demo_event;
use makeroom_server::domain::roster::{Language, Name};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json_logs = matches!(&cli.command, Command::Serve(config) if config.log_format == "json");
    init_tracing(json_logs);
    let outcome = actix_web::rt::System::new().block_on(async move {
        match cli.command {
            Command::Serve(config) => serve(config).await,
            Command::Event(EventCommand::Create(args)) => create_event(args).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("makeroom: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("MAKEROOM_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        logs.json().init();
    } else {
        logs.init();
    }
}

async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    let backend = Backend::open(&config.store, &config.tokens).await?;
    if backend.events.list().is_empty() && !config.no_demo {
        let language = if config.demo_language == "cy" { Language::Cy } else { Language::En };
        create_demo_event(&backend.events, language).await?;
    }
    let app = Application::build(&config, backend)?;
    let state = app.state.clone();
    println!("Makeroom is listening on {}  (data: {})", state.public_url, config.store.data_dir.display());
    let services = &state.services;
    for event in services.events.list() {
        print_links(&event_links(&services.events, &services.tokens, &event, &state.public_url).await?);
    }
    println!("Press Ctrl-C to stop.");
    app.run_until_stopped().await
}

async fn create_event(args: CreateEventArgs) -> anyhow::Result<()> {
    let backend = Backend::open(&args.store, &args.tokens).await?;
    let event = backend.events.create_event(Name::try_from(args.name)?).await?;
    let links = event_links(&backend.events, &backend.tokens, &event, args.public_url.trim_end_matches('/')).await?;
    if args.json {
        println!("{}", serde_json::to_string(&links)?);
    } else {
        print_links(&links);
    }
    Ok(())
}

fn print_links(links: &EventLinks) {
    println!();
    println!("Event \"{}\" ({})", links.event_name, links.event_id);
    println!("  organiser: {}", links.organiser_link);
    println!("  display:   {}", links.display_link);
    println!("  join code: {}  (participants open {})", links.join_code, links.join_link);
}
