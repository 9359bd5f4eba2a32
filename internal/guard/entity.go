package guard

// Entity is a sensitive-information type, named exactly as Amazon Bedrock
// Guardrails names its PII entity types (piiEntitiesConfig[].type).
type Entity string

// The entity types the detector finds. Card data (the first four) is always
// scanned; the others are scanned when asked for (see DetectPII).
const (
	CardNumber   Entity = "CREDIT_DEBIT_CARD_NUMBER"
	CardCVV      Entity = "CREDIT_DEBIT_CARD_CVV"
	CardExpiry   Entity = "CREDIT_DEBIT_CARD_EXPIRY"
	PIN          Entity = "PIN"
	Email        Entity = "EMAIL"
	Phone        Entity = "PHONE"
	SSN          Entity = "US_SOCIAL_SECURITY_NUMBER"
	ITIN         Entity = "US_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER"
	BankAccount  Entity = "US_BANK_ACCOUNT_NUMBER"
	RoutingNum   Entity = "US_BANK_ROUTING_NUMBER"
	IBAN         Entity = "INTERNATIONAL_BANK_ACCOUNT_NUMBER"
	SwiftCode    Entity = "SWIFT_CODE"
	IPAddress    Entity = "IP_ADDRESS"
	MACAddress   Entity = "MAC_ADDRESS"
	URL          Entity = "URL"
	AWSAccessKey Entity = "AWS_ACCESS_KEY"
	AWSSecretKey Entity = "AWS_SECRET_KEY"
	UKNINO       Entity = "UK_NATIONAL_INSURANCE_NUMBER"
	UKNHS        Entity = "UK_NATIONAL_HEALTH_SERVICE_NUMBER"
	UKUTR        Entity = "UK_UNIQUE_TAXPAYER_REFERENCE_NUMBER"
	CASIN        Entity = "CA_SOCIAL_INSURANCE_NUMBER"
	CAHealth     Entity = "CA_HEALTH_NUMBER"
	VIN          Entity = "VEHICLE_IDENTIFICATION_NUMBER"
	Passport     Entity = "US_PASSPORT_NUMBER"
	DriverID     Entity = "DRIVER_ID"
	LicensePlate Entity = "LICENSE_PLATE"
	Age          Entity = "AGE"
	Name         Entity = "NAME"
	Address      Entity = "ADDRESS"
	Username     Entity = "USERNAME"
	Password     Entity = "PASSWORD"
)

// AllEntities lists every entity type the detector knows, in Bedrock's
// documentation order where it has one.
var AllEntities = []Entity{
	Address, Age, AWSAccessKey, AWSSecretKey, CAHealth, CASIN, CardCVV, CardExpiry,
	CardNumber, DriverID, Email, IBAN, IPAddress, LicensePlate, MACAddress, Name,
	Password, Phone, PIN, SwiftCode, UKNHS, UKNINO, UKUTR, URL, Username,
	BankAccount, RoutingNum, ITIN, Passport, SSN, VIN,
}

// IsCard reports whether e is card data (PCI DSS cardholder or sensitive
// authentication data): the types Mask and the Guard always remove.
func (e Entity) IsCard() bool {
	return e == CardNumber || e == CardCVV || e == CardExpiry || e == PIN
}

// Known reports whether e is an entity type this package detects.
func (e Entity) Known() bool {
	for _, k := range AllEntities {
		if k == e {
			return true
		}
	}
	return false
}

// Finding is one detected value: its type and byte offsets [Start, End) in
// the scanned text. It never holds the value itself.
type Finding struct {
	Type  Entity `json:"type"`
	Start int    `json:"start"`
	End   int    `json:"end"`
	// Brand is the card brand of a CREDIT_DEBIT_CARD_NUMBER ("VISA", ...).
	Brand string `json:"brand,omitempty"`
	// Last4 holds the last four digits of a card number (PCI DSS 3.4.1
	// allows them to be shown); empty for other types.
	Last4 string `json:"last4,omitempty"`
	// Track is set when the card number was part of magnetic-stripe track
	// data; the span then covers the whole track.
	Track bool `json:"track,omitempty"`
	// Encoded is set when the card number was found base64- or
	// hex-encoded or spelled out in words (see DetectEncoded).
	Encoded bool `json:"encoded,omitempty"`
}
