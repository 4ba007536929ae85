# This example takes no inputs: the alerts module no longer receives the Teams URL (it is
# set on the action group by `invoke azure.secrets`, from Key Vault).
