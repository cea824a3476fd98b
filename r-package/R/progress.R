# Progress of a fit from R: a cli progress bar fed by the trainer, which calls
# the function made here after every epoch (Python's stderr reaches RStudio
# only when the call returns, so the bar is drawn by R).

# Whether a fit shows its progress when `verbose` is not given: in interactive
# sessions, but not while knitr knits or testthat tests (both may run inside
# an interactive session).
.show_progress <- function() {
    interactive() && !isTRUE(getOption("knitr.in.progress")) &&
        !identical(Sys.getenv("TESTTHAT"), "true")
}

# The trainer's callback f(epoch, max_epochs, record, final): the bar shows
# the epoch of the most, the loss, lambda0, for how many epochs the supports
# of W have held, and the time left at most (the stopping rule may end the fit
# sooner). The bar belongs to the caller's frame and closes when it returns.
# An interrupt (Ctrl-C, Esc) that arrives while R draws returns "interrupt",
# which the trainer treats as Ctrl-C: it saves its state and stops.
.fit_progress <- function(show) {
    if (!isTRUE(show)) {
        return(FALSE)
    }
    frame <- parent.frame()
    state <- new.env(parent = emptyenv())
    function(epoch, total, record, final = FALSE) {
        epoch <- .from_py(epoch)
        total <- .from_py(total)
        record <- .from_py(record)
        tryCatch({
            # several starts at once report the starts finished instead
            # of the epochs (mssvae.model.parallel)
            starts <- !is.null(record$starts_done)
            if (is.null(state$bar)) {
                state$bar <- cli::cli_progress_bar(total = total,
                    format = paste("{cli::pb_bar}",
                        if (starts) "starts done" else "epoch",
                        "{cli::pb_current}/{cli::pb_total} {cli::pb_status}",
                        "\u2264 {cli::pb_eta} left"),
                    clear = FALSE, .envir = frame)
            }
            status <- if (starts) {
                sprintf("%d running", as.integer(record$starts_running))
            } else {
                sprintf("loss %.4g \u03bb0 %g", record$loss, record$lambda0)
            }
            if (!is.null(record$stable_epochs)) {
                status <- paste(status, sprintf("stable %d",
                    as.integer(record$stable_epochs)))
            }
            cli::cli_progress_update(id = state$bar, set = epoch,
                status = status, force = isTRUE(final), .envir = frame)
            if (isTRUE(final)) {
                cli::cli_progress_done(id = state$bar, .envir = frame)
            }
            NULL
        }, interrupt = function(i) "interrupt")
    }
}

# The trainer's arguments arrive as Python objects (the bridge is imported
# with convert = FALSE).
.from_py <- function(v) {
    if (inherits(v, "python.builtin.object")) reticulate::py_to_r(v) else v
}

# After a fit: the core's warnings as R warnings and, with progress shown, why
# the fit stopped.
.report_fit <- function(res, verbose) {
    for (w in res$warnings) {
        warning(w, call. = FALSE)
    }
    if (isTRUE(verbose)) {
        message("mssvae: ", res$metadata$stopping$message)
    }
    invisible(NULL)
}
