"""The model itself: networks (``nets``), the MSSVAE module with its likelihoods and priors
(``module``, ``priors``), the trainer and its stopping rule (``train``, ``stopping``), minibatch
access (``batches``) and the choice of device, arithmetic and threads (``hardware``)."""
