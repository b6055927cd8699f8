//! Custom-code deposit: `/card/code/deposit`, `/card/code/getdepositcount`, `/card/code/checkcode`.
