# Inside R, PyTorch's matrix products run on PyTorch's own BLAS, not on R's
# (Debian's reference BLAS, which R loads into the process before Python).
# Both checks compare within this run: where the products go, and how long one
# takes here against a plain Python process.

# Median seconds of a 1,000 x 1,000 fp32 product on one thread, in this R
# session (through reticulate) or in a fresh Python process.
matmul_seconds <- function(in.r = TRUE) {
    code <- paste(
        "import statistics, time, mssvae, torch",
        "torch.set_num_threads(1)",
        "a, b = torch.randn(1000, 1000), torch.randn(1000, 1000)",
        "times = []",
        "for _ in range(5):",
        "    t = time.perf_counter(); a @ b; times.append(time.perf_counter() - t)",
        "seconds = statistics.median(times)", sep = "\n")
    if (in.r) {
        reticulate::py_run_string("import torch; threads = torch.get_num_threads()")
        on.exit(reticulate::py_run_string("torch.set_num_threads(threads)"))
        return(reticulate::py_run_string(code)$seconds)
    }
    out <- system2(mssvaePython()$python,
        c("-c", shQuote(paste0(code, "\nprint(seconds)"))), stdout = TRUE)
    as.numeric(utils::tail(out, 1L))
}

test_that("PyTorch's products inside R run on PyTorch's own BLAS", {
    skip_without_python()
    lib <- mssvaePython()$torch_blas
    expect_match(lib, "libtorch_cpu\\.so$")
    expect_false(grepl("libblas|openblas|libRblas", lib))
})

test_that("a product inside R takes about as long as in plain Python", {
    skip_without_python()
    in_r <- matmul_seconds(in.r = TRUE)
    in_python <- matmul_seconds(in.r = FALSE)
    # R's reference BLAS took ~13x as long (1.37 against 0.11 s at 1,500^2).
    expect_lt(in_r, 3 * in_python,
        label = sprintf("%.3f s inside R against %.3f s in Python", in_r,
            in_python))
})
