//! The sandbox's endpoints: path, accepted methods, and whether a route carries a token.

use http::Method;

/// One endpoint of the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Route {
    Token,
    StableToken,
    Ticket,
    QrCreate,
    LandingCreate,
    Deposit,
    DepositCount,
    CheckCode,
    GetHtml,
    TestWhitelist,
    MassSendAll,
    MassSend,
    MassPreview,
    CustomSend,
    AdminCards,
    AdminClock,
    AdminUserGetCard,
    AdminState,
    AdminReset,
    AdminFaults,
    AdminCounters,
    AdminSends,
    AdminPushTarget,
    AdminPushes,
    AdminRedeliver,
}

/// Every route with its path, in the order the counters list them.
const ROUTES: [(Route, &str); 25] = [
    (Route::Token, "/cgi-bin/token"),
    (Route::StableToken, "/cgi-bin/stable_token"),
    (Route::Ticket, "/cgi-bin/ticket/getticket"),
    (Route::QrCreate, "/card/qrcode/create"),
    (Route::LandingCreate, "/card/landingpage/create"),
    (Route::Deposit, "/card/code/deposit"),
    (Route::DepositCount, "/card/code/getdepositcount"),
    (Route::CheckCode, "/card/code/checkcode"),
    (Route::GetHtml, "/card/mpnews/gethtml"),
    (Route::TestWhitelist, "/card/testwhitelist/set"),
    (Route::MassSendAll, "/cgi-bin/message/mass/sendall"),
    (Route::MassSend, "/cgi-bin/message/mass/send"),
    (Route::MassPreview, "/cgi-bin/message/mass/preview"),
    (Route::CustomSend, "/cgi-bin/message/custom/send"),
    (Route::AdminCards, "/sandbox/cards"),
    (Route::AdminClock, "/sandbox/clock"),
    (Route::AdminUserGetCard, "/sandbox/events/user_get_card"),
    (Route::AdminState, "/sandbox/state"),
    (Route::AdminReset, "/sandbox/reset"),
    (Route::AdminFaults, "/sandbox/faults"),
    (Route::AdminCounters, "/sandbox/counters"),
    (Route::AdminSends, "/sandbox/sends"),
    (Route::AdminPushTarget, "/sandbox/push_target"),
    (Route::AdminPushes, "/sandbox/pushes"),
    (Route::AdminRedeliver, "/sandbox/pushes/redeliver"),
];

impl Route {
    /// The route of a URL path (a trailing `/` is ignored).
    pub(crate) fn from_path(path: &str) -> Option<Self> {
        let path = path.trim_end_matches('/');
        ROUTES.iter().find(|(_, p)| *p == path).map(|(r, _)| *r)
    }

    /// The route's path.
    pub(crate) fn path(self) -> &'static str {
        ROUTES
            .iter()
            .find(|(r, _)| *r == self)
            .map_or("", |(_, p)| p)
    }

    /// Whether the route answers this method.
    pub(crate) fn accepts(self, method: &Method) -> bool {
        match self {
            Self::AdminFaults => {
                [Method::GET, Method::POST, Method::PATCH, Method::DELETE].contains(method)
            }
            Self::AdminCards => method == Method::GET || method == Method::POST,
            Self::AdminPushTarget => {
                [Method::GET, Method::POST, Method::PUT, Method::DELETE].contains(method)
            }
            Self::AdminClock => method == Method::GET || method == Method::POST,
            _ => method == self.method(),
        }
    }

    /// The method the route takes (the first one, for routes that take several).
    pub(crate) fn method(self) -> Method {
        match self {
            Self::Token
            | Self::Ticket
            | Self::AdminState
            | Self::AdminCounters
            | Self::AdminSends
            | Self::AdminFaults
            | Self::AdminPushTarget
            | Self::AdminPushes => Method::GET,
            _ => Method::POST,
        }
    }

    /// A `/sandbox/...` route: no token, never faulted.
    pub(crate) fn is_admin(self) -> bool {
        self.path().starts_with("/sandbox/")
    }

    /// Whether the route carries an access token (and so may meet faults).
    pub(crate) fn needs_token(self) -> bool {
        !self.is_admin() && !matches!(self, Self::Token | Self::StableToken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip() {
        for (route, path) in ROUTES {
            assert_eq!(Route::from_path(path), Some(route));
            assert_eq!(Route::from_path(&format!("{path}/")), Some(route));
            assert_eq!(route.path(), path);
        }
        assert_eq!(Route::from_path("/nothing"), None);
        assert!(Route::AdminReset.is_admin() && !Route::AdminReset.needs_token());
        assert!(!Route::Token.needs_token() && Route::Deposit.needs_token());
        assert!(Route::AdminFaults.accepts(&Method::DELETE));
        assert!(!Route::Deposit.accepts(&Method::GET));
    }
}
