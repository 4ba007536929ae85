# This example takes no inputs: every value is written in main.tf.
