"""Classifiers on features files: the library behind ``python -m evaluation.svm``, ``evaluation.suggest``,
``evaluation.head`` and ``curation.hygiene``'s mislabel scores. One job per module:

    config       SVMConfig: the grid, the protocol and the solver of an evaluation.svm run
    models       scikit-learn pipelines (SVC, logistic regression, precomputed kernels) and their grids
    folds        stratified folds that shrink and never hold out a singleton; the thesis's hold-out
    calibration  temperature scaling (one optimiser), expected calibration error, softmax summaries
    stats        streaming statistics a chunk of rows at a time: standardisation, kernel maps, per-fold sums
    lda          shrunk linear discriminant analysis from those statistics
    lssvm        the least-squares SVM (a scikit-learn estimator) and its models from statistics
    search       grid search (exact, on a sample, or from statistics) and which solver a run uses
    oof          out-of-fold probabilities and top-1 predictions of every row
    scoring      scores of a fitted model on a features file, and the metrics and predictions of a method
    inputs       reading features files for a run, and the checks a saved model makes of them
    persist      saving and loading model bundles
    holdout      cross-style hold-out (evaluation.svm --holdout-style)

Nothing here imports FiftyOne or torch.
"""
