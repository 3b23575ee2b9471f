"""Few-label fine-tuning (SimCLR appendix B.5, section 6): a class-balanced label subset, f
fine-tuned beside training from scratch and the linear probe, their report, and the sweep over
label fractions with its label-efficiency plot (``simclr finetune``)."""
